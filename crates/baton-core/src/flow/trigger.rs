//! Triggers: what starts executions besides a person or an API call.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::kinds::TriggerKind;
use crate::diagnostic::Position;
use crate::duration::IsoDuration;

type Json = serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trigger {
    pub id: String,
    pub kind: TriggerKind,
    pub type_name: String,
    pub position: Position,
    pub common: TriggerCommon,
    pub props: TriggerProps,
}

/// Properties every trigger accepts (Kestra's `AbstractTrigger`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerCommon {
    pub description: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    /// Conditions as written: Flow and Webhook triggers evaluate them; Schedule triggers refuse
    /// them when the flow is read (not supported yet).
    #[serde(default)]
    pub conditions: Vec<Json>,
    /// Disable the trigger once an execution it started ends in one of these states.
    pub stop_after: Option<Vec<String>>,
    pub log_level: Option<super::task::LogLevel>,
    pub worker_group: Option<super::task::WorkerGroup>,
    #[serde(default)]
    pub log_to_file: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TriggerProps {
    Schedule(ScheduleProps),
    Flow(FlowTriggerProps),
    Webhook(WebhookProps),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleProps {
    /// Unix cron (5 fields, 6 with `withSeconds`) or a nickname such as `@daily`.
    pub cron: String,
    #[serde(default)]
    pub with_seconds: bool,
    /// IANA zone; the server's zone (UTC for Baton) when absent.
    pub timezone: Option<String>,
    #[serde(default)]
    pub inputs: IndexMap<String, Json>,
    pub labels: Option<Json>,
    pub recover_missed_schedules: Option<RecoverMissedSchedules>,
    pub late_maximum_delay: Option<IsoDuration>,
    /// Deprecated in Kestra; conditions on the fire date.
    pub schedule_conditions: Option<Vec<Json>>,
    /// Deprecated in Kestra in favour of API backfills.
    pub backfill: Option<Json>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecoverMissedSchedules {
    All,
    Last,
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowTriggerProps {
    #[serde(default)]
    pub inputs: IndexMap<String, Json>,
    /// The parent execution states that fire the trigger; every terminal state when absent.
    pub states: Option<Vec<String>>,
    pub preconditions: Option<super::condition::Preconditions>,
    pub labels: Option<Json>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookProps {
    /// The secret part of the webhook URL.
    pub key: String,
    #[serde(default)]
    pub inputs: IndexMap<String, Json>,
    pub labels: Option<Json>,
    #[serde(default)]
    pub wait: bool,
    #[serde(default)]
    pub return_outputs: bool,
}
