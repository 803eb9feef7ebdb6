//! `/ui/triggers` and a flow's Triggers tab: Schedule triggers with their next fire date and
//! last execution, enable/disable, and backfills — a form (start, end, inputs, labels), their
//! progress, and pause, resume and cancel.
//!
//! Rows come from the REST API's own trigger views (`crate::triggers`), and the buttons call
//! the same scheduler functions as `/api/v1/triggers`, so both show and do the same thing.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use baton_scheduler::{backfill, control};
use baton_store::{BackfillState, TriggerFilter, TriggerKey};
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use super::flows::FlowHeader;
use super::view::{Nav, query_escape};
use super::{PageResult, html_with};
use crate::error::ApiError;
use crate::{ApiState, triggers};

/// One trigger as the tables show it.
pub struct TriggerRow {
    pub namespace: String,
    pub flow_id: String,
    pub trigger_id: String,
    pub cron: String,
    pub timezone: String,
    pub disabled: bool,
    pub next: Option<String>,
    /// The last fire date and the execution it created, with its state.
    pub last_date: Option<String>,
    pub execution_id: Option<String>,
    pub execution_state: Option<String>,
    /// The trigger's own inputs, as JSON: the backfill form starts from them.
    pub inputs: String,
    pub backfill: Option<BackfillView>,
}

impl TriggerRow {
    /// The base of this trigger's action URLs.
    pub fn actions(&self) -> String {
        format!(
            "/ui/flows/{}/{}/triggers/{}",
            self.namespace, self.flow_id, self.trigger_id
        )
    }

    pub fn state_class(&self) -> String {
        self.execution_state
            .as_deref()
            .map(|state| format!("st-{}", state.to_ascii_lowercase()))
            .unwrap_or_default()
    }
}

/// The trigger's latest backfill.
pub struct BackfillView {
    pub state: String,
    pub start: String,
    pub end: String,
    /// The next date to create an execution for, while there is one.
    pub current: Option<String>,
    pub total: u64,
    pub created: u64,
    pub ended: u64,
}

impl BackfillView {
    pub fn active(&self) -> bool {
        self.state == "RUNNING" || self.state == "PAUSED"
    }

    pub fn paused(&self) -> bool {
        self.state == "PAUSED"
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

fn row(view: &Value) -> TriggerRow {
    let field = |name: &str| text(&view[name]).unwrap_or_default();
    let backfill = &view["backfill"];
    TriggerRow {
        namespace: field("namespace"),
        flow_id: field("flowId"),
        trigger_id: field("triggerId"),
        cron: field("cron"),
        timezone: field("timezone"),
        disabled: view["disabled"].as_bool().unwrap_or(false),
        next: text(&view["nextExecutionDate"]),
        last_date: text(&view["date"]),
        execution_id: text(&view["executionId"]),
        execution_state: text(&view["executionState"]),
        inputs: match &view["inputs"] {
            Value::Object(map) if !map.is_empty() => {
                serde_json::to_string_pretty(map).unwrap_or_default()
            }
            _ => "{}".to_owned(),
        },
        backfill: backfill.is_object().then(|| BackfillView {
            state: text(&backfill["state"]).unwrap_or_default(),
            start: text(&backfill["start"]).unwrap_or_default(),
            end: text(&backfill["end"]).unwrap_or_default(),
            current: text(&backfill["currentDate"]),
            total: backfill["total"].as_u64().unwrap_or(0),
            created: backfill["created"].as_u64().unwrap_or(0),
            ended: backfill["ended"].as_u64().unwrap_or(0),
        }),
    }
}

#[derive(Template)]
#[template(path = "ui/triggers.html")]
struct TriggersPage {
    nav: Nav,
    title: String,
    namespace: String,
    rows: Vec<TriggerRow>,
}

#[derive(Template)]
#[template(path = "ui/trigger_rows.html")]
struct TriggerRows {
    rows: Vec<TriggerRow>,
    with_flow: bool,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    namespace: String,
    /// `rows`: only the table's rows, for the page's auto-refresh.
    fragment: Option<String>,
}

/// `GET /ui/triggers?namespace=`: every trigger (of a namespace and its children).
pub async fn list(State(state): State<ApiState>, Query(query): Query<ListQuery>) -> PageResult {
    let filter = TriggerFilter {
        namespace_prefix: Some(query.namespace.trim().to_owned()).filter(|ns| !ns.is_empty()),
        flow_id: None,
    };
    let rows: Vec<TriggerRow> = triggers::views(&state, &filter)
        .await?
        .iter()
        .map(row)
        .collect();
    if query.fragment.as_deref() == Some("rows") {
        let body = TriggerRows {
            rows,
            with_flow: true,
        };
        return Ok(Html(body.render().map_err(ApiError::from)?).into_response());
    }
    html_with(
        StatusCode::OK,
        &TriggersPage {
            nav: Nav::of(&state, "triggers"),
            title: "Triggers".into(),
            namespace: query.namespace,
            rows,
        },
    )
}

#[derive(Template)]
#[template(path = "ui/flow_triggers.html")]
struct FlowTriggersPage {
    nav: Nav,
    title: String,
    flow: FlowHeader,
    rows: Vec<TriggerRow>,
    /// A refused backfill form: which trigger, what was typed, and why.
    refused: Option<(String, BackfillForm, String)>,
}

impl FlowTriggersPage {
    /// What the backfill form of `trigger` shows: what was typed when it was refused, else
    /// empty dates and the trigger's own inputs.
    fn form_of(&self, row: &TriggerRow) -> (String, String, String, String, Option<String>) {
        match &self.refused {
            Some((trigger, form, error)) if *trigger == row.trigger_id => (
                form.start.clone(),
                form.end.clone(),
                form.inputs.clone(),
                form.labels.clone(),
                Some(error.clone()),
            ),
            _ => (
                String::new(),
                String::new(),
                row.inputs.clone(),
                String::new(),
                None,
            ),
        }
    }
}

async fn flow_page(
    state: &ApiState,
    namespace: String,
    id: String,
    refused: Option<(String, BackfillForm, String)>,
) -> PageResult {
    let record = state.store.get_flow(&namespace, &id, None).await?;
    let filter = TriggerFilter {
        namespace_prefix: Some(namespace.clone()),
        flow_id: Some(id.clone()),
    };
    let rows: Vec<TriggerRow> = triggers::views(state, &filter)
        .await?
        .iter()
        .map(row)
        .filter(|row| row.namespace == namespace)
        .collect();
    let status = if refused.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    html_with(
        status,
        &FlowTriggersPage {
            nav: Nav::of(state, "flows"),
            title: format!("{namespace}.{id} triggers"),
            flow: FlowHeader::of(&record, "triggers"),
            rows,
            refused,
        },
    )
}

/// `GET /ui/flows/{namespace}/{id}/triggers`.
pub async fn flow_triggers(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
) -> PageResult {
    flow_page(&state, namespace, id, None).await
}

fn back_to(namespace: &str, id: &str) -> axum::response::Response {
    Redirect::to(&format!(
        "/ui/flows/{}/{}/triggers",
        query_escape(namespace),
        query_escape(id)
    ))
    .into_response()
}

/// `POST /ui/flows/{namespace}/{id}/triggers/{trigger}/toggle`.
pub async fn toggle(
    State(state): State<ApiState>,
    Path((namespace, id, trigger)): Path<(String, String, String)>,
) -> PageResult {
    let key = TriggerKey::new(&namespace, &id, &trigger);
    let disabled = triggers::view_of(&state, &key).await?["disabled"] == true;
    control::set_disabled(state.store.as_ref(), &key, !disabled, Utc::now())
        .await
        .map_err(ApiError::from)?;
    Ok(back_to(&namespace, &id))
}

#[derive(Clone, Default, Deserialize)]
pub struct BackfillForm {
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    /// A JSON object overriding the trigger's inputs.
    #[serde(default)]
    inputs: String,
    /// `key:value`, one per line.
    #[serde(default)]
    labels: String,
}

/// A backfill's inputs and labels, as the form gives them.
type Overrides = (serde_json::Map<String, Value>, BTreeMap<String, String>);

impl BackfillForm {
    fn read(&self) -> Result<Overrides, String> {
        let inputs = match self.inputs.trim() {
            "" => serde_json::Map::new(),
            text => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err("inputs: a JSON object, such as {\"taxi\": \"green\"}".into()),
                Err(error) => return Err(format!("inputs: not JSON ({error})")),
            },
        };
        let mut labels = BTreeMap::new();
        for (number, line) in self.labels.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(format!(
                    "labels, line {}: '{line}' is not key:value",
                    number + 1
                ));
            };
            labels.insert(key.trim().to_owned(), value.trim().to_owned());
        }
        Ok((inputs, labels))
    }
}

/// `POST /ui/flows/{namespace}/{id}/triggers/{trigger}/backfill`: starts a backfill; a refused
/// one shows the form again with what was typed and why.
pub async fn start_backfill(
    State(state): State<ApiState>,
    Path((namespace, id, trigger)): Path<(String, String, String)>,
    Form(form): Form<BackfillForm>,
) -> PageResult {
    let key = TriggerKey::new(&namespace, &id, &trigger);
    let started = match form.read() {
        Ok((inputs, labels)) => {
            let start = Some(form.start.as_str()).filter(|s| !s.trim().is_empty());
            let end = Some(form.end.as_str()).filter(|s| !s.trim().is_empty());
            triggers::start_backfill(&state, &key, start, end, inputs, labels)
                .await
                .map(|_| ())
                .map_err(|error| match error {
                    ApiError::BadRequest(m)
                    | ApiError::Unprocessable(m)
                    | ApiError::Conflict(m) => Ok(m),
                    other => Err(other),
                })
        }
        Err(message) => Err(Ok(message)),
    };
    match started {
        Ok(()) => Ok(back_to(&namespace, &id)),
        Err(Ok(message)) => flow_page(&state, namespace, id, Some((trigger, form, message))).await,
        Err(Err(error)) => Err(error.into()),
    }
}

/// `POST /ui/flows/{namespace}/{id}/triggers/{trigger}/backfill/{pause|resume|cancel}`.
pub async fn change_backfill(
    State(state): State<ApiState>,
    Path((namespace, id, trigger, action)): Path<(String, String, String, String)>,
) -> PageResult {
    let to = match action.as_str() {
        "pause" => BackfillState::Paused,
        "resume" => BackfillState::Running,
        "cancel" => BackfillState::Cancelled,
        other => {
            return Err(ApiError::NotFound(format!("no backfill action '{other}'")).into());
        }
    };
    let key = TriggerKey::new(&namespace, &id, &trigger);
    backfill::change(state.store.as_ref(), &key, to)
        .await
        .map_err(ApiError::from)?;
    Ok(back_to(&namespace, &id))
}
