//! Creating a subflow's execution for [`Action::StartSubflow`](baton_core::engine::Action), in
//! the transaction of the parent's step: the child's row and its first message commit with the
//! parent's new state, or neither does.

use baton_core::engine::SubflowStart;
use baton_core::inputs::RawInput;
use baton_store::{ExecutionTx, NewMessage};
use indexmap::IndexMap;
use uuid::Uuid;

use super::create::{NewExecution, build_execution};
use super::messages::StepMessage;
use super::{Error, ExecutorState};

/// Creates the child inside `tx`. `Ok(Err(reason))` is a refusal the Subflow task fails with
/// (no such flow, a disabled or invalid one, refused inputs); `Err` is a store failure, and the
/// whole step is retried.
pub(super) async fn start_child(
    state: &ExecutorState,
    tx: &mut dyn ExecutionTx,
    start: &SubflowStart,
) -> Result<Result<(), String>, Error> {
    let (row, first_message) = match prepare_child(state, tx, start).await? {
        Ok(prepared) => prepared,
        Err(reason) => return Ok(Err(reason)),
    };
    tx.insert_execution(&row).await?;
    tx.enqueue(std::slice::from_ref(&first_message)).await?;
    Ok(Ok(()))
}

async fn prepare_child(
    state: &ExecutorState,
    tx: &mut dyn ExecutionTx,
    start: &SubflowStart,
) -> Result<Result<(baton_store::Execution, NewMessage), String>, Error> {
    let name = format!("{}.{}", start.namespace, start.flow_id);
    let revision = start.revision.map(|r| i32::try_from(r).unwrap_or(i32::MAX));
    // Read on the transaction's connection: this step holds the write lock (see the store).
    let record = match tx
        .get_flow(&start.namespace, &start.flow_id, revision)
        .await
    {
        Ok(record) => record,
        Err(baton_store::Error::FlowNotFound { .. }) => {
            return Ok(Err(match revision {
                Some(revision) => format!("flow {name} revision {revision} not found"),
                None => format!("flow {name} not found"),
            }));
        }
        Err(error) => return Err(error.into()),
    };
    if record.disabled {
        return Ok(Err(format!("flow {name} is disabled")));
    }
    let flow = match state.flows.parse(&record) {
        Ok(flow) => flow,
        Err(error @ Error::InvalidFlow { .. }) => return Ok(Err(error.to_string())),
        Err(error) => return Err(error),
    };
    let id = Uuid::parse_str(&start.execution_id).map_err(|e| Error::BadDocument {
        execution_id: start.parent.execution_id.clone(),
        reason: format!("subflow execution id '{}': {e}", start.execution_id),
    })?;
    let inputs: IndexMap<String, RawInput> = start
        .inputs
        .iter()
        .map(|(k, v)| (k.clone(), RawInput::Json(v.clone())))
        .collect();
    let request = NewExecution {
        namespace: record.namespace.clone(),
        flow_id: record.id.clone(),
        revision: Some(record.revision),
        inputs,
        labels: IndexMap::new(),
        trigger: Some(start.parent.trigger_variables()),
    };
    let (mut row, mut execution) = match build_execution(state, &flow, id, request) {
        Ok(built) => built,
        Err(Error::Inputs(message)) => {
            return Ok(Err(format!("inputs of flow {name}: {message}")));
        }
        Err(error) => return Err(error),
    };
    // Kestra's order: inherited labels yield to the child flow's own, the task's win over both.
    for (key, value) in &start.inherited_labels {
        if !flow.flow.labels.contains_key(key) {
            execution.labels.insert(key.clone(), value.clone());
        }
    }
    execution.labels.extend(start.labels.iter().cloned());
    execution.parent_execution = Some(start.parent.clone());
    super::write_document(&mut row, &execution)?;
    let first_message = match start.schedule_date {
        Some(at) => StepMessage::start_at(&execution.id, at),
        None => StepMessage::message(&execution.id, Vec::new()),
    };
    Ok(Ok((row, first_message)))
}
