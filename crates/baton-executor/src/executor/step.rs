//! One engine step: lock the execution, step it with what happened, and commit the new
//! document with the messages the step produced and the ack of the messages that carried the
//! events — one transaction, so a crash at any point loses nothing and does nothing twice.
//! Then the new attempts go to the worker hub and the kills to their workers.

use baton_core::engine::{Action, Event, StepContext, step};
use baton_core::execution::{ContextExtras, Execution};
use baton_store::{Claimed, NewMessage, Store};
use uuid::Uuid;

use super::messages::{DispatchMessage, StepMessage};
use super::{Error, ExecutorState};

/// Steps the execution a claimed `executions` message is for.
pub async fn process(state: &ExecutorState, message: &Claimed) -> Result<(), Error> {
    let payload: StepMessage =
        serde_json::from_value(message.payload.clone()).map_err(|e| Error::BadMessage {
            id: message.id,
            reason: e.to_string(),
        })?;
    let id = Uuid::parse_str(&payload.execution_id).map_err(|e| Error::BadMessage {
        id: message.id,
        reason: format!("execution id: {e}"),
    })?;
    step_execution(state, id, &payload.events, &[message.id]).await
}

/// Steps execution `id` with `events`, acking the messages `acks` in the same transaction.
pub async fn step_execution(
    state: &ExecutorState,
    id: Uuid,
    events: &[Event],
    acks: &[i64],
) -> Result<(), Error> {
    let store: &dyn Store = state.store.as_ref();
    let mut tx = store.begin().await?;
    let mut row = tx.lock_execution(id).await?;
    // The row's document is rewritten below: take it rather than copy it.
    let mut execution: Execution = serde_json::from_value(std::mem::take(&mut row.document))
        .map_err(|e| Error::BadDocument {
            execution_id: id.to_string(),
            reason: e.to_string(),
        })?;
    let flow = state
        .flows
        .get(store, &row.namespace, &row.flow_id, row.flow_revision)
        .await?;

    let actions = run_step(state, &flow.flow, &mut execution, events);
    let mut follow_ups: Vec<NewMessage> = Vec::new();
    // (index in follow_ups, task run id) of each attempt to hand to the hub after the commit.
    let mut dispatches: Vec<(usize, &str)> = Vec::new();
    let mut kills: Vec<&str> = Vec::new();
    for action in &actions {
        match action {
            Action::Dispatch {
                task_run_id,
                attempt,
            } => {
                // Claimed by this executor from the start: it hands the attempt to its hub
                // right after the commit, so no other executor needs to hear of it — one
                // takes it over only when this one dies and the claim's lease runs out.
                dispatches.push((follow_ups.len(), task_run_id));
                follow_ups.push(
                    DispatchMessage::message(&execution.id, task_run_id, *attempt)
                        .claimed_by(&state.options.consumer_id, state.options.lease),
                );
            }
            Action::WakeAt { task_run_id, at } => {
                follow_ups.push(StepMessage::at(
                    &execution.id,
                    vec![Event::Timer {
                        task_run_id: task_run_id.clone(),
                    }],
                    *at,
                ));
            }
            Action::Kill { task_run_id } => kills.push(task_run_id),
            Action::StartSubflow {
                task_run_id,
                namespace,
                flow_id,
                ..
            } => {
                // Subflows need the parent link in the child's document; until then the task
                // fails clearly instead of waiting forever.
                follow_ups.push(StepMessage::message(
                    &execution.id,
                    vec![Event::TaskFinished {
                        task_run_id: task_run_id.clone(),
                        attempt: 0,
                        state: baton_core::execution::State::Failed,
                        outputs: Default::default(),
                        error: Some(format!("subflows ({namespace}.{flow_id}) are not supported by this executor yet")),
                    }],
                ));
            }
            Action::Ended { .. } => {}
        }
    }
    super::write_document(&mut row, &execution)?;
    let version = row.version;
    tx.update_execution(&row, version).await?;
    let message_ids = if follow_ups.is_empty() {
        Vec::new()
    } else {
        tx.enqueue(&follow_ups).await?
    };
    tx.ack(acks).await?;
    tx.commit().await?;

    for (index, task_run_id) in dispatches {
        if let (Some(message_id), Some(run)) =
            (message_ids.get(index), execution.task_run(task_run_id))
        {
            super::dispatch::hand_over(state, *message_id, &execution, &flow, run);
        }
    }
    for task_run_id in kills {
        state.hub.kill(task_run_id);
    }
    Ok(())
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
