//! Creating an execution: inputs coerced and checked first (a bad input creates nothing), then
//! the execution row and its first step message in one transaction.

use baton_core::execution::{ContextExtras, Execution, task_context};
use baton_core::inputs::{RawInput, resolve};
use baton_core::template::is_template;
use baton_store::Store;
use indexmap::IndexMap;
use uuid::Uuid;

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
    create_execution_with_id(state, Uuid::now_v7(), request).await
}

/// [`create_execution`] under an id the caller chose (a UUIDv7, so ids keep sorting by
/// creation time): the API stores uploaded FILE inputs under the execution's id before the
/// execution exists.
pub async fn create_execution_with_id(
    state: &ExecutorState,
    id: Uuid,
    request: NewExecution,
) -> Result<Execution, Error> {
    let (row, execution) = prepare_execution(state, id, request).await?;
    state
        .store
        .create_execution(&row, &StepMessage::message(&execution.id, Vec::new()))
        .await?;
    metrics::counter!("baton_executions_created_total").increment(1);
    Ok(execution)
}

/// Builds what [`create_execution`] stores — the store row and the execution document, inputs
/// resolved — without storing it, for callers that insert it in a transaction of their own
/// (the scheduler, with the trigger's state). Its first message is
/// `StepMessage::message(&execution.id, Vec::new())`.
pub async fn prepare_execution(
    state: &ExecutorState,
    id: Uuid,
    request: NewExecution,
) -> Result<(baton_store::Execution, Execution), Error> {
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
    build_execution(state, &flow, id, request)
}

/// The new execution `id` of `flow` (a parsed revision the caller read), inputs resolved (a
/// refused input is [`Error::Inputs`]), as the store row and the engine's document; nothing is
/// stored. Callers that create executions inside another transaction (subflows, Flow triggers)
/// insert the row themselves, after adding what they know and writing the document again.
pub(super) fn build_execution(
    state: &ExecutorState,
    flow: &FlowRevision,
    id: Uuid,
    request: NewExecution,
) -> Result<(baton_store::Execution, Execution), Error> {
    let (mut row, mut execution) = new_execution(flow, id, &request);
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

/// A CREATED execution `id` of `flow` with the request's trigger, the flow's labels and then
/// the request's, no inputs yet.
pub(super) fn new_execution(
    flow: &FlowRevision,
    id: Uuid,
    request: &NewExecution,
) -> (baton_store::Execution, Execution) {
    let mut row = baton_store::Execution::new(
        &flow.flow.namespace,
        &flow.flow.id,
        flow.revision,
        serde_json::Value::Null,
    );
    row.id = id;
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
