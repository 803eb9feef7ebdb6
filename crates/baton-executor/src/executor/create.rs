//! Creating an execution: inputs coerced and checked first (a bad input creates nothing), then
//! the execution row and its first step message in one transaction.

use baton_core::execution::{ContextExtras, Execution, task_context};
use baton_core::flow::Flow;
use baton_core::inputs::{RawInput, resolve};
use baton_core::template::is_template;
use baton_store::{FlowRecord, Store};
use indexmap::IndexMap;
use uuid::Uuid;

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
    create_execution_with_id(state, uuid::Uuid::now_v7(), request).await
}

/// [`create_execution`] under an id the caller chose (a UUIDv7, so ids keep sorting by
/// creation time): the API stores uploaded FILE inputs under the execution's id before the
/// execution exists.
pub async fn create_execution_with_id(
    state: &ExecutorState,
    id: uuid::Uuid,
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
    let (mut row, mut execution) = build_execution(
        state,
        &flow.flow,
        &record,
        id,
        &request.inputs,
        request.trigger,
    )?;
    execution.labels.extend(request.labels);
    super::write_document(&mut row, &execution)?;
    store
        .create_execution(&row, &StepMessage::message(&execution.id, Vec::new()))
        .await?;
    metrics::counter!("baton_executions_created_total").increment(1);
    Ok(execution)
}

/// A new CREATED execution of `flow` with id `id`: its row and its document, inputs resolved
/// (a refused input is [`Error::Inputs`]) and the flow's labels set. Nothing is written; the
/// caller adds what it knows and writes the document into the row.
pub(super) fn build_execution(
    state: &ExecutorState,
    flow: &Flow,
    record: &FlowRecord,
    id: Uuid,
    inputs: &IndexMap<String, RawInput>,
    trigger: Option<serde_json::Value>,
) -> Result<(baton_store::Execution, Execution), Error> {
    let mut row = baton_store::Execution::new(
        &record.namespace,
        &record.id,
        record.revision,
        serde_json::Value::Null,
    );
    row.id = id;
    let mut execution = Execution::new(
        row.id.to_string(),
        &record.namespace,
        &record.id,
        record.revision,
        row.created_at,
    );
    execution.trigger = trigger;
    // Defaults may be templates (`{{ now() }}`, `{{ trigger.date }}`): render them against the
    // execution being created.
    let context = task_context(
        flow,
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
    execution.inputs = resolve(&flow.inputs, inputs, &mut render_default).map_err(|errors| {
        Error::Inputs(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    execution.labels = flow.labels.clone();
    Ok((row, execution))
}
