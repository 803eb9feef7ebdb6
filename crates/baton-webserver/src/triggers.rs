//! `/api/v1/triggers`: Schedule triggers with their next fire date and last execution,
//! disable/enable, run now, and backfills in Kestra's shapes (`PUT /triggers` with a
//! `backfill`, `PUT /triggers/backfill/pause|unpause`, `POST /triggers/backfill/delete`).
//!
//! The scheduler owns firing; the API changes a trigger's row or a backfill in the store, then
//! wakes the schedulers (every process) so they re-arm.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use baton_scheduler::ScheduleDefinition;
use baton_scheduler::backfill::{self, BackfillRequest};
use baton_scheduler::control;
use baton_store::{Backfill, BackfillState, TriggerFilter, TriggerKey, TriggerState};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::query::Params;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/triggers", put(update))
        .route("/triggers/search", get(search))
        .route("/triggers/set-disabled/by-triggers", post(set_disabled))
        .route("/triggers/backfill/pause", put(pause))
        .route("/triggers/backfill/unpause", put(unpause))
        .route("/triggers/backfill/delete", post(cancel))
        .route("/triggers/{namespace}/{flow_id}", get(of_flow))
        .route("/triggers/{namespace}/{flow_id}/{trigger_id}", get(read))
        .route(
            "/triggers/{namespace}/{flow_id}/{trigger_id}/run",
            post(run),
        )
}

/// A trigger named in a body, as Kestra's UI sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TriggerRef {
    namespace: String,
    flow_id: String,
    trigger_id: String,
}

impl TriggerRef {
    fn key(&self) -> TriggerKey {
        TriggerKey::new(&self.namespace, &self.flow_id, &self.trigger_id)
    }
}

/// `PUT /triggers`: `disabled` toggles the trigger, `backfill` starts a backfill.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TriggerUpdate {
    #[serde(flatten)]
    trigger: TriggerRef,
    disabled: Option<bool>,
    backfill: Option<BackfillBody>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackfillBody {
    start: Option<String>,
    end: Option<String>,
    #[serde(default)]
    inputs: serde_json::Map<String, Value>,
    /// A map, or Kestra's list of `{key, value}`.
    #[serde(default)]
    labels: Option<Value>,
}

async fn search(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let params = Params(query);
    let filter = TriggerFilter {
        namespace_prefix: params.get("namespace").map(str::to_owned),
        flow_id: params.get("flowId").map(str::to_owned),
    };
    let results = views(&state, &filter).await?;
    Ok(Json(json!({"total": results.len(), "results": results})))
}

async fn of_flow(
    State(state): State<ApiState>,
    Path((namespace, flow_id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Value>>> {
    let filter = TriggerFilter {
        namespace_prefix: Some(namespace.clone()),
        flow_id: Some(flow_id),
    };
    let mut results = views(&state, &filter).await?;
    results.retain(|view| view["namespace"] == namespace.as_str());
    Ok(Json(results))
}

async fn read(
    State(state): State<ApiState>,
    Path((namespace, flow_id, trigger_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let key = TriggerKey::new(&namespace, &flow_id, &trigger_id);
    Ok(Json(view_of(&state, &key).await?))
}

async fn update(
    State(state): State<ApiState>,
    Json(body): Json<TriggerUpdate>,
) -> ApiResult<Json<Value>> {
    let key = body.trigger.key();
    let store = state.store.as_ref();
    if let Some(disabled) = body.disabled {
        control::set_disabled(store, &key, disabled, Utc::now()).await?;
    }
    if let Some(backfill) = body.backfill {
        let labels = labels(backfill.labels.as_ref())?;
        start_backfill(
            &state,
            &key,
            backfill.start.as_deref(),
            backfill.end.as_deref(),
            backfill.inputs,
            labels,
        )
        .await?;
    }
    Ok(Json(view_of(&state, &key).await?))
}

/// Starts a backfill of `key` over `[start, end]` (dates read in the trigger's zone; `end`
/// defaults to now). The UI's backfill form calls this too.
pub(crate) async fn start_backfill(
    state: &ApiState,
    key: &TriggerKey,
    start: Option<&str>,
    end: Option<&str>,
    inputs: serde_json::Map<String, Value>,
    labels: BTreeMap<String, String>,
) -> ApiResult<Backfill> {
    let store = state.store.as_ref();
    let zone = backfill::zone(store, key).await?;
    let start = start
        .map(|text| backfill::parse_date(text, zone, false))
        .transpose()?;
    let end = end
        .map(|text| backfill::parse_date(text, zone, true))
        .transpose()?;
    let request = BackfillRequest {
        start,
        end,
        inputs,
        labels,
    };
    Ok(backfill::start(store, key, request, Utc::now()).await?)
}

/// `POST /triggers/set-disabled/by-triggers`: `{"triggers": [...], "disabled": true}`.
async fn set_disabled(
    State(state): State<ApiState>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let disabled = body["disabled"]
        .as_bool()
        .ok_or_else(|| ApiError::BadRequest("'disabled' must be true or false".into()))?;
    let triggers: Vec<TriggerRef> = serde_json::from_value(body["triggers"].clone())
        .map_err(|e| ApiError::BadRequest(format!("'triggers': {e}")))?;
    for trigger in &triggers {
        control::set_disabled(state.store.as_ref(), &trigger.key(), disabled, Utc::now()).await?;
    }
    Ok(Json(json!({"count": triggers.len()})))
}

async fn pause(state: State<ApiState>, body: Json<TriggerRef>) -> ApiResult<Json<Value>> {
    change(state, body, BackfillState::Paused).await
}

async fn unpause(state: State<ApiState>, body: Json<TriggerRef>) -> ApiResult<Json<Value>> {
    change(state, body, BackfillState::Running).await
}

async fn cancel(state: State<ApiState>, body: Json<TriggerRef>) -> ApiResult<Json<Value>> {
    change(state, body, BackfillState::Cancelled).await
}

async fn change(
    State(state): State<ApiState>,
    Json(trigger): Json<TriggerRef>,
    to: BackfillState,
) -> ApiResult<Json<Value>> {
    let key = trigger.key();
    backfill::change(state.store.as_ref(), &key, to).await?;
    Ok(Json(view_of(&state, &key).await?))
}

/// `POST /triggers/{ns}/{flowId}/{triggerId}/run`: an execution now, with the trigger's inputs.
async fn run(
    State(state): State<ApiState>,
    Path((namespace, flow_id, trigger_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let key = TriggerKey::new(&namespace, &flow_id, &trigger_id);
    let execution = control::run_now(&state.executor, &key, Utc::now()).await?;
    Ok(Json(serde_json::to_value(execution).unwrap_or_default()))
}

fn labels(value: Option<&Value>) -> ApiResult<BTreeMap<String, String>> {
    let text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    match value {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => Ok(map.iter().map(|(k, v)| (k.clone(), text(v))).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match (item["key"].as_str(), item.get("value")) {
                (Some(key), Some(value)) => Ok((key.to_owned(), text(value))),
                _ => Err(ApiError::BadRequest(
                    "'backfill.labels': expected {key, value} items".into(),
                )),
            })
            .collect(),
        Some(other) => Err(ApiError::BadRequest(format!(
            "'backfill.labels' must be a map or a list, found {other}"
        ))),
    }
}

pub(crate) async fn views(state: &ApiState, filter: &TriggerFilter) -> ApiResult<Vec<Value>> {
    let rows = state.store.list_triggers(filter).await?;
    let mut latest: BTreeMap<TriggerKey, Backfill> = BTreeMap::new();
    // Newest first: the first backfill seen of a trigger is its latest.
    for backfill in state.store.list_backfills(None, false).await? {
        latest.entry(backfill.key.clone()).or_insert(backfill);
    }
    Ok(rows
        .iter()
        .map(|row| view(row, latest.get(&row.key)))
        .collect())
}

pub(crate) async fn view_of(state: &ApiState, key: &TriggerKey) -> ApiResult<Value> {
    let row = state.store.get_trigger(key).await?;
    let latest = state.store.list_backfills(Some(key), false).await?;
    Ok(view(&row, latest.first()))
}

/// A trigger as the API shows it: Kestra's trigger-context fields (`date`, `nextExecutionDate`,
/// `executionId`, `disabled`, `backfill`) plus what Baton knows (`cron`, the last execution's
/// state). Dates are in the trigger's zone.
fn view(row: &TriggerState, backfill: Option<&Backfill>) -> Value {
    let definition: Option<ScheduleDefinition> =
        serde_json::from_value(row.definition.clone()).ok();
    let schedule = definition.as_ref().and_then(|d| d.schedule().ok());
    let format = |at: Option<DateTime<Utc>>| match (&schedule, at) {
        (Some(schedule), Some(at)) => json!(schedule.format(at)),
        (None, Some(at)) => json!(at.to_rfc3339()),
        (_, None) => Value::Null,
    };
    // stopAfter applies at the next fire; show it as soon as the execution has ended.
    let stopping = row.awaiting_execution
        && row.last_execution_state.is_some_and(|state| {
            state.is_terminal() && definition.as_ref().is_some_and(|d| d.stops_after(state))
        });
    let disabled = row.disabled || stopping || definition.as_ref().is_some_and(|d| d.disabled);
    json!({
        "namespace": row.key.namespace,
        "flowId": row.key.flow_id,
        "triggerId": row.key.trigger_id,
        "type": definition.as_ref().map(|d| d.type_name.clone()),
        "cron": definition.as_ref().map(|d| d.cron.clone()),
        "timezone": definition.as_ref().map(|d| d.timezone.clone().unwrap_or_else(|| "UTC".into())),
        "inputs": definition.as_ref().map(|d| d.inputs.clone()),
        "flowRevision": row.flow_revision,
        "disabled": disabled,
        "nextExecutionDate": if disabled { Value::Null } else { format(row.next_fire_at) },
        "date": format(row.last_fire_at),
        "executionId": row.last_execution_id,
        "executionState": row.last_execution_state,
        "updatedDate": row.updated_at,
        "backfill": backfill.map(|b| json!({
            "id": b.id,
            "start": format(Some(b.start)),
            "end": format(Some(b.end)),
            "currentDate": format(b.next_fire_at),
            "state": b.state.as_str(),
            "paused": b.state == BackfillState::Paused,
            "total": b.total,
            "created": b.created,
            "ended": b.ended,
            "inputs": b.inputs,
            "labels": b.labels,
            "executionId": b.execution_id,
        })),
    })
}
