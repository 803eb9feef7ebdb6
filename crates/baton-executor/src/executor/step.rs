//! One engine step: claim a message, lock the execution, step it, and commit the new document
//! with the messages the step produced and the ack of the message that caused it — one
//! transaction, so a crash at any point loses nothing and does nothing twice.

use baton_core::engine::{Action, Event, StepContext, step};
use baton_core::execution::{ContextExtras, Execution};
use baton_store::{Claimed, NewMessage, Store};
use uuid::Uuid;

use super::messages::{DispatchMessage, StepMessage};
use super::{Error, ExecutorState};

/// What must happen outside the database once the step committed.
#[derive(Debug, Default)]
pub struct AfterCommit {
    /// Task runs whose worker must stop.
    pub kills: Vec<String>,
}

pub async fn process(state: &ExecutorState, message: &Claimed) -> Result<AfterCommit, Error> {
    let payload: StepMessage =
        serde_json::from_value(message.payload.clone()).map_err(|e| Error::BadMessage {
            id: message.id,
            reason: e.to_string(),
        })?;
    let id = Uuid::parse_str(&payload.execution_id).map_err(|e| Error::BadMessage {
        id: message.id,
        reason: format!("execution id: {e}"),
    })?;
    let store: &dyn Store = state.store.as_ref();
    let mut tx = store.begin().await?;
    let mut row = match tx.lock_execution(id).await {
        Ok(row) => row,
        Err(baton_store::Error::ExecutionNotFound(_)) => {
            // A notice for an execution that does not exist (a parent or child from a store
            // restored without it) can never be delivered.
            tracing::warn!(execution = %id, "dropping a message for a missing execution");
            drop(tx);
            store.ack(&[message.id]).await?;
            return Ok(AfterCommit::default());
        }
        Err(error) => return Err(error.into()),
    };
    let mut execution: Execution =
        serde_json::from_value(row.document.clone()).map_err(|e| Error::BadDocument {
            execution_id: payload.execution_id.clone(),
            reason: e.to_string(),
        })?;
    let flow = state
        .flows
        .get_in(tx.as_mut(), &row.namespace, &row.flow_id, row.flow_revision)
        .await?;

    let before = super::metrics::Before::of(&execution);
    let mut actions = run_step(state, &flow.flow, &mut execution, &payload.events);
    let mut follow_ups: Vec<NewMessage> = Vec::new();
    let mut after = AfterCommit::default();
    // Children are created here, in this transaction, and the engine is stepped again with the
    // answers until it asks for no more: a task that does not wait for its child is done at
    // once, and what follows it starts in the same commit.
    while !actions.is_empty() {
        let mut answers = Vec::new();
        for action in actions.drain(..) {
            match action {
                Action::Dispatch {
                    task_run_id,
                    attempt,
                } => {
                    follow_ups.push(DispatchMessage::message(
                        &execution.id,
                        &task_run_id,
                        attempt,
                    ));
                }
                Action::WakeAt { task_run_id, at } => {
                    follow_ups.push(StepMessage::at(
                        &execution.id,
                        vec![Event::Timer { task_run_id }],
                        at,
                    ));
                }
                Action::Kill { task_run_id } => after.kills.push(task_run_id),
                Action::StartSubflow(start) => {
                    let task_run_id = start.task_run_id.clone();
                    answers.push(
                        match super::subflow::start_child(state, tx.as_mut(), &start).await? {
                            Ok(()) => Event::SubflowStarted { task_run_id },
                            Err(error) => Event::SubflowRefused { task_run_id, error },
                        },
                    );
                }
                Action::Notify {
                    execution_id,
                    event,
                } => follow_ups.push(StepMessage::message(&execution_id, vec![event])),
                Action::Ended { .. } => {}
            }
        }
        if !answers.is_empty() {
            actions = run_step(state, &flow.flow, &mut execution, &answers);
        }
    }
    super::write_document(&mut row, &execution)?;
    let version = row.version;
    tx.update_execution(&row, version).await?;
    if !follow_ups.is_empty() {
        tx.enqueue(&follow_ups).await?;
    }
    tx.ack(&[message.id]).await?;
    tx.commit().await?;
    before.record(&execution);
    Ok(after)
}

fn run_step(
    state: &ExecutorState,
    flow: &baton_core::flow::Flow,
    execution: &mut Execution,
    events: &[Event],
) -> Vec<Action> {
    let mut new_id = || Uuid::now_v7().to_string();
    let extras = ContextExtras {
        envs: state.envs.clone(),
        working_dir: None,
    };
    let mut ctx = StepContext {
        flow,
        now: chrono::Utc::now(),
        templates: &state.templates,
        host: state.host.as_ref(),
        new_id: &mut new_id,
        extras: &extras,
    };
    step(&mut ctx, execution, events)
}
