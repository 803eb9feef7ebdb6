//! `/ui/executions/{id}`: one execution — header (state, duration, inputs, labels, trigger),
//! the Gantt timeline of its task runs, the flow's graph coloured by state, live logs with
//! level and task filters, outputs as a tree, and Kill / Restart / Replay buttons that call the
//! REST API.
//!
//! The live part (`/ui/executions/{id}/live`) is the same HTML as the page's middle: the
//! script re-fetches it whenever the API's execution stream
//! (`/api/v1/executions/{id}/follow`) reports a change, so every state is drawn by one piece
//! of Rust and one template. Logs come straight from `/api/v1/logs/{id}/follow`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use baton_core::execution::{Execution, State as ExecutionState};
use baton_core::topology::Graph;
use chrono::Utc;

use super::gantt::{Gantt, gantt, task_run_label};
use super::view::{Nav, duration_text, pretty_json, state_class, time_text};
use super::{PageResult, html};
use crate::executions::execution_id;
use crate::{ApiError, ApiState};

/// The parts of the page that change while the execution runs.
pub struct Live {
    pub id: String,
    pub state: ExecutionState,
    pub class: String,
    pub created: String,
    pub ended: Option<String>,
    pub duration: String,
    pub revision: i32,
    pub labels: Vec<String>,
    /// Pretty JSON, empty when there are none.
    pub inputs: String,
    pub trigger: Option<String>,
    pub error: Option<String>,
    pub original_id: Option<String>,
    pub terminal: bool,
    pub can_kill: bool,
    pub can_restart: bool,
    pub gantt: Gantt,
    pub topology: String,
    /// Each task run with outputs: its label and the outputs' HTML tree.
    pub outputs: Vec<(String, String)>,
    /// The flow's own outputs, as an HTML tree; empty when there are none.
    pub flow_outputs: String,
    /// Every task run (id, label), for the log filter and the replay choice.
    pub task_runs: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "ui/execution.html")]
struct ExecutionPage {
    nav: Nav,
    title: String,
    namespace: String,
    flow_id: String,
    live: Live,
}

#[derive(Template)]
#[template(path = "ui/live.html")]
struct LiveFragment {
    live: Live,
}

async fn load(state: &ApiState, id: &str) -> Result<(Execution, Live), ApiError> {
    let row = state.store.get_execution(execution_id(id)?).await?;
    let execution: Execution = serde_json::from_value(row.document).map_err(|error| {
        ApiError::Internal(format!(
            "execution {id} has an unreadable document: {error}"
        ))
    })?;
    let topology = match state
        .store
        .get_flow(
            &execution.namespace,
            &execution.flow_id,
            Some(execution.flow_revision),
        )
        .await
    {
        Ok(record) => match state.parser.parse(&record.source).flow {
            Some(flow) => super::topology::svg(&Graph::of(&flow), &latest_states(&execution)),
            None => String::new(),
        },
        Err(baton_store::Error::FlowNotFound { .. }) => String::new(),
        Err(error) => return Err(error.into()),
    };
    let now = Utc::now();
    let sizes = super::outputs::file_sizes(
        state.storage.as_ref(),
        execution
            .task_runs
            .iter()
            .flat_map(|run| run.outputs.values())
            .chain(execution.outputs.values()),
    )
    .await;
    let live = Live {
        id: execution.id.clone(),
        state: execution.state,
        class: state_class(execution.state),
        created: time_text(execution.created_at),
        ended: execution.ended_at.map(time_text),
        duration: duration_text(execution.ended_at.unwrap_or(now) - execution.created_at),
        revision: execution.flow_revision,
        labels: execution
            .labels
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect(),
        inputs: if execution.inputs.is_empty() {
            String::new()
        } else {
            pretty_json(&serde_json::Value::Object(execution.inputs.clone()))
        },
        trigger: execution.trigger.as_ref().map(pretty_json),
        error: execution.error.clone(),
        original_id: execution.original_id.clone(),
        terminal: execution.state.is_terminal(),
        can_kill: !execution.state.is_terminal() && execution.state != ExecutionState::Killing,
        can_restart: execution.state.is_failure(),
        gantt: gantt(&execution, now),
        topology,
        outputs: execution
            .task_runs
            .iter()
            .filter(|run| !run.outputs.is_empty())
            .map(|run| {
                let value = serde_json::Value::Object(run.outputs.clone());
                (
                    task_run_label(run),
                    super::outputs::tree(&value, &execution.id, &sizes),
                )
            })
            .collect(),
        flow_outputs: if execution.outputs.is_empty() {
            String::new()
        } else {
            super::outputs::tree(
                &serde_json::Value::Object(execution.outputs.clone()),
                &execution.id,
                &sizes,
            )
        },
        task_runs: execution
            .task_runs
            .iter()
            .map(|run| (run.id.clone(), task_run_label(run)))
            .collect(),
    };
    Ok((execution, live))
}

/// The state of each task's latest task run (a ForEach child runs once per value; the last
/// one created stands for the task).
fn latest_states(execution: &Execution) -> HashMap<String, ExecutionState> {
    execution
        .task_runs
        .iter()
        .map(|run| (run.task_id.clone(), run.state))
        .collect()
}

/// `GET /ui/executions/{id}`.
pub async fn page(State(state): State<ApiState>, Path(id): Path<String>) -> PageResult {
    let (execution, live) = load(&state, &id).await?;
    html(&ExecutionPage {
        nav: Nav::of(&state, "executions"),
        title: format!(
            "{}.{} {}",
            execution.namespace, execution.flow_id, live.state
        ),
        namespace: execution.namespace.clone(),
        flow_id: execution.flow_id.clone(),
        live,
    })
}

/// `GET /ui/executions/{id}/live`: the page's changing middle, for the script to swap in.
pub async fn live(State(state): State<ApiState>, Path(id): Path<String>) -> PageResult {
    let (_, live) = load(&state, &id).await?;
    html(&LiveFragment { live })
}
