//! What a person can ask of an existing execution: kill, resume, restart, replay.

use baton_core::engine::{Event, replay};
use baton_core::execution::{Execution, State};
use baton_store::Store;
use uuid::Uuid;

use super::messages::StepMessage;
use super::{Error, ExecutorState};

/// Why a request does not apply to the execution as it is now.
fn refuse(execution: &Execution, wanted: &str) -> Error {
    Error::NotApplicable(format!(
        "execution {} is {}; cannot {wanted} it",
        execution.id, execution.state
    ))
}

async fn load(
    state: &ExecutorState,
    execution_id: &str,
) -> Result<(baton_store::Execution, Execution), Error> {
    let id = Uuid::parse_str(execution_id)
        .map_err(|_| Error::NotApplicable(format!("'{execution_id}' is not an execution id")))?;
    let row = state.store.get_execution(id).await?;
    let execution =
        serde_json::from_value(row.document.clone()).map_err(|e| Error::BadDocument {
            execution_id: execution_id.to_owned(),
            reason: e.to_string(),
        })?;
    Ok((row, execution))
}

async fn send(state: &ExecutorState, execution_id: &str, event: Event) -> Result<(), Error> {
    state
        .store
        .enqueue(&[StepMessage::message(execution_id, vec![event])])
        .await?;
    Ok(())
}

/// Kills a running or paused execution; the engine stops its attempts and ends it KILLED.
pub async fn kill(state: &ExecutorState, execution_id: &str) -> Result<(), Error> {
    let (_, execution) = load(state, execution_id).await?;
    if execution.state.is_terminal() {
        return Err(refuse(&execution, "kill"));
    }
    send(state, execution_id, Event::Kill).await
}

pub async fn resume(state: &ExecutorState, execution_id: &str) -> Result<(), Error> {
    let (_, execution) = load(state, execution_id).await?;
    if execution.state != State::Paused {
        return Err(refuse(&execution, "resume"));
    }
    send(state, execution_id, Event::Resume).await
}

/// Runs a failed, killed or cancelled execution again under the same id, from what failed.
pub async fn restart(state: &ExecutorState, execution_id: &str) -> Result<(), Error> {
    let (_, execution) = load(state, execution_id).await?;
    if !matches!(
        execution.state,
        State::Failed | State::Killed | State::Cancelled
    ) {
        return Err(refuse(&execution, "restart"));
    }
    send(state, execution_id, Event::Restart).await
}

/// Creates a new execution that replays `execution_id` from `task_run_id` (the flow revision
/// it ran with, its inputs and labels, and the results of the task runs before that one).
pub async fn replay_execution(
    state: &ExecutorState,
    execution_id: &str,
    task_run_id: &str,
) -> Result<Execution, Error> {
    let (row, source) = load(state, execution_id).await?;
    let store: &dyn Store = state.store.as_ref();
    let flow = state
        .flows
        .get(store, &row.namespace, &row.flow_id, row.flow_revision)
        .await?;
    let mut new_row = baton_store::Execution::new(
        &row.namespace,
        &row.flow_id,
        row.flow_revision,
        serde_json::Value::Null,
    );
    let execution = replay(
        &flow.flow,
        &source,
        task_run_id,
        new_row.id.to_string(),
        new_row.created_at,
    )
    .ok_or_else(|| {
        Error::NotApplicable(format!(
            "execution {execution_id} has no task run {task_run_id}"
        ))
    })?;
    super::write_document(&mut new_row, &execution)?;
    store
        .create_execution(&new_row, &StepMessage::message(&execution.id, Vec::new()))
        .await?;
    Ok(execution)
}
