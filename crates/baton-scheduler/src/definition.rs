//! A Schedule trigger as the scheduler fires it: what a flow revision says, kept in the
//! trigger row (`definition`) so arming a trigger needs no flow parsing.

use baton_core::duration::IsoDuration;
use baton_core::execution::State;
use baton_core::flow::trigger::{RecoverMissedSchedules, ScheduleProps};
use baton_core::flow::{Flow, Trigger, TriggerProps};
use baton_core::schedule::CronSchedule;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleDefinition {
    /// The trigger's type as the flow wrote it.
    #[serde(rename = "type")]
    pub type_name: String,
    pub cron: String,
    #[serde(default)]
    pub with_seconds: bool,
    pub timezone: Option<String>,
    /// The trigger or its flow is disabled in the flow file.
    #[serde(default)]
    pub disabled: bool,
    #[serde(default = "all")]
    pub recover_missed_schedules: RecoverMissedSchedules,
    pub late_maximum_delay: Option<IsoDuration>,
    /// Execution states after which the trigger disables itself.
    #[serde(default)]
    pub stop_after: Vec<State>,
    #[serde(default)]
    pub inputs: IndexMap<String, Value>,
    #[serde(default)]
    pub labels: IndexMap<String, String>,
}

fn all() -> RecoverMissedSchedules {
    RecoverMissedSchedules::All
}

impl ScheduleDefinition {
    /// The flow's Schedule triggers, by id. `flow_disabled` is the stored flow's flag.
    pub fn of_flow(flow: &Flow, flow_disabled: bool) -> Vec<(String, ScheduleDefinition)> {
        flow.triggers
            .iter()
            .filter_map(|trigger| match &trigger.props {
                TriggerProps::Schedule(props) => Some((
                    trigger.id.clone(),
                    Self::new(trigger, props, flow.disabled || flow_disabled),
                )),
                _ => None,
            })
            .collect()
    }

    fn new(trigger: &Trigger, props: &ScheduleProps, flow_disabled: bool) -> Self {
        Self {
            type_name: trigger.type_name.clone(),
            cron: props.cron.clone(),
            with_seconds: props.with_seconds,
            timezone: props.timezone.clone(),
            disabled: trigger.common.disabled || flow_disabled,
            recover_missed_schedules: props
                .recover_missed_schedules
                .unwrap_or(RecoverMissedSchedules::All),
            late_maximum_delay: props.late_maximum_delay,
            stop_after: trigger
                .common
                .stop_after
                .iter()
                .flatten()
                .filter_map(|state| State::parse(state))
                .collect(),
            inputs: props.inputs.clone(),
            labels: labels(props.labels.as_ref()),
        }
    }

    /// What decides the fire dates: when it changes, the schedule restarts from now instead of
    /// replaying the dates in between (a cron edit, a re-enabled trigger).
    pub fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.cron,
            self.with_seconds,
            self.timezone.as_deref().unwrap_or("UTC"),
            if self.disabled { "disabled" } else { "enabled" }
        )
    }

    pub fn schedule(&self) -> Result<CronSchedule, String> {
        CronSchedule::new(&self.cron, self.with_seconds, self.timezone.as_deref())
    }

    pub fn stops_after(&self, state: State) -> bool {
        self.stop_after.contains(&state)
    }
}

/// A trigger's labels: a map, or a list of `{key, value}`; values as text.
fn labels(value: Option<&Value>) -> IndexMap<String, String> {
    let text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    match value {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| {
                Some((
                    item.get("key")?.as_str()?.to_owned(),
                    text(item.get("value")?),
                ))
            })
            .collect(),
        _ => IndexMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = r#"
id: taxi
namespace: zoomcamp
inputs:
  - id: taxi
    type: SELECT
    values: [green, yellow]
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.taxi }}"
triggers:
  - id: green_schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 1 * *"
    timezone: Europe/Paris
    inputs:
      taxi: green
    labels:
      - key: source
        value: schedule
    recoverMissedSchedules: LAST
    lateMaximumDelay: PT1H
    stopAfter: [FAILED]
  - id: yellow_schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 10 1 * *"
    disabled: true
    inputs:
      taxi: yellow
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: secret
"#;

    #[test]
    fn schedule_triggers_are_read_with_their_options() {
        let flow = baton_core::parse::parse_flow(FLOW)
            .flow
            .expect("valid flow");
        let definitions = ScheduleDefinition::of_flow(&flow, false);
        let ids: Vec<&str> = definitions.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            ["green_schedule", "yellow_schedule"],
            "webhooks are not schedules"
        );
        let green = &definitions[0].1;
        assert_eq!(green.recover_missed_schedules, RecoverMissedSchedules::Last);
        assert_eq!(green.late_maximum_delay, Some(IsoDuration::from_secs(3600)));
        assert!(green.stops_after(State::Failed) && !green.stops_after(State::Success));
        assert_eq!(green.inputs["taxi"], "green");
        assert_eq!(green.labels["source"], "schedule");
        assert!(!green.disabled);
        assert!(definitions[1].1.disabled);
        assert_eq!(
            definitions[1].1.recover_missed_schedules,
            RecoverMissedSchedules::All,
            "Kestra's default"
        );
        // The stored form reads back the same.
        let stored = serde_json::to_value(green).unwrap();
        assert_eq!(
            serde_json::from_value::<ScheduleDefinition>(stored).unwrap(),
            *green
        );
    }

    #[test]
    fn the_fingerprint_follows_what_decides_fire_dates() {
        let flow = baton_core::parse::parse_flow(FLOW)
            .flow
            .expect("valid flow");
        let green = ScheduleDefinition::of_flow(&flow, false).remove(0).1;
        let mut other_inputs = green.clone();
        other_inputs.inputs.insert("taxi".into(), "yellow".into());
        assert_eq!(green.fingerprint(), other_inputs.fingerprint());
        let mut other_cron = green.clone();
        other_cron.cron = "0 8 1 * *".into();
        assert_ne!(green.fingerprint(), other_cron.fingerprint());
        let disabled_flow = ScheduleDefinition::of_flow(&flow, true).remove(0).1;
        assert!(disabled_flow.disabled);
        assert_ne!(green.fingerprint(), disabled_flow.fingerprint());
    }
}
