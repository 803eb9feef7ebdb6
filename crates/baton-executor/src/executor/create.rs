//! Creating an execution: inputs coerced and checked first (a bad input creates nothing), then
//! the execution row and its first step message in one transaction.

use baton_core::execution::{ContextExtras, Execution, task_context};
use baton_core::inputs::{RawInput, resolve};
use baton_core::template::is_template;
use baton_store::Store;
use indexmap::IndexMap;

use super::flows::FlowRevision;
use super::messages::StepMessage;
use super::{Error, ExecutorState};

/// What a caller (API, CLI, trigger) asks for.
#[derive(Clone, Debug, Default)]
pub struct NewExecution {
    pub namespace: String,
    pub flow_id: String,
    /// The latest revision when `None`.
    pub revision: Option<i32>,
    pub inputs: IndexMap<String, RawInput>,
    pub labels: IndexMap<String, String>,
    pub trigger: Option<serde_json::Value>,
}

pub async fn create_execution(
    state: &ExecutorState,
    request: NewExecution,
) -> Result<Execution, Error> {
    let store: &dyn Store = state.store.as_ref();
    let record = store
        .get_flow(&request.namespace, &request.flow_id, request.revision)
        .await?;
    let flow = state
        .flows
        .get(store, &record.namespace, &record.id, record.revision)
        .await?;
    if record.disabled {
        return Err(Error::Inputs(format!(
            "flow {}.{} is disabled",
            record.namespace, record.id
        )));
    }
    let (row, execution) = build_execution(state, &flow, request)?;
    store
        .create_execution(&row, &StepMessage::message(&execution.id, Vec::new()))
        .await?;
    Ok(execution)
}

/// The new execution of `flow` (a parsed revision the caller read), inputs resolved, as the
/// store row and the engine's document; nothing is stored. Callers that create executions
/// inside another transaction (Flow triggers) insert the row themselves.
pub(super) fn build_execution(
    state: &ExecutorState,
    flow: &FlowRevision,
    request: NewExecution,
) -> Result<(baton_store::Execution, Execution), Error> {
    let (mut row, mut execution) = new_execution(flow, &request);
    // Defaults may be templates (`{{ now() }}`, `{{ trigger.date }}`): render them against the
    // execution being created.
    let context = task_context(
        &flow.flow,
        &execution,
        None,
        &ContextExtras {
            envs: state.envs.clone(),
            working_dir: None,
        },
    );
    let mut render_default = |_: &baton_core::inputs::InputSpec,
                              value: &serde_json::Value|
     -> Result<serde_json::Value, String> {
        match value {
            serde_json::Value::String(text) if is_template(text) => state
                .templates
                .render_typed(text, &context, state.host.as_ref())
                .map_err(|e| e.to_string()),
            other => Ok(other.clone()),
        }
    };
    execution.inputs =
        resolve(&flow.flow.inputs, &request.inputs, &mut render_default).map_err(|errors| {
            Error::Inputs(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
    super::write_document(&mut row, &execution)?;
    Ok((row, execution))
}

/// A CREATED execution of `flow` with the request's trigger and labels, no inputs yet.
pub(super) fn new_execution(
    flow: &FlowRevision,
    request: &NewExecution,
) -> (baton_store::Execution, Execution) {
    let row = baton_store::Execution::new(
        &flow.flow.namespace,
        &flow.flow.id,
        flow.revision,
        serde_json::Value::Null,
    );
    let mut execution = Execution::new(
        row.id.to_string(),
        &flow.flow.namespace,
        &flow.flow.id,
        flow.revision,
        row.created_at,
    );
    execution.trigger = request.trigger.clone();
    execution.labels = flow.flow.labels.clone();
    execution.labels.extend(request.labels.clone());
    (row, execution)
}
