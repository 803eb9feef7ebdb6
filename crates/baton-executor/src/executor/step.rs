//! One engine step: lock the execution, step it with what happened, and commit the new
//! document with the messages the step produced and the ack of the messages that carried the
//! events — one transaction, so a crash at any point loses nothing and does nothing twice.
//! Then the new attempts go to the worker hub and the kills to their workers.

use baton_core::engine::{Action, Event, StepContext, step};
use baton_core::execution::{ContextExtras, Execution};
use baton_store::{Claimed, NewMessage, Store};
use uuid::Uuid;

use super::concurrency::{self, Gate};
use super::messages::{DispatchMessage, StepMessage};
use super::{Error, ExecutorState, flow_triggers};

/// How many times a step is redone because flows changed under it before it gives up (the
/// message is then retried a second later).
const STALE_INDEX_RETRIES: usize = 8;

/// Steps the execution a claimed `executions` message is for.
pub async fn process(state: &ExecutorState, message: &Claimed) -> Result<(), Error> {
    let payload: StepMessage =
        serde::Deserialize::deserialize(&message.payload).map_err(|e: serde_json::Error| {
            Error::BadMessage {
                id: message.id,
                reason: e.to_string(),
            }
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
    for _ in 0..STALE_INDEX_RETRIES {
        match step_once(state, id, events, acks).await {
            // Flows changed since the Flow trigger index was loaded: nothing was committed;
            // reload and step again, so triggers are evaluated against current flows.
            Err(Error::StaleFlowIndex) => state.flow_triggers.reload(state).await?,
            other => return other,
        }
    }
    Err(Error::StaleFlowIndex)
}

async fn step_once(
    state: &ExecutorState,
    id: Uuid,
    events: &[Event],
    acks: &[i64],
) -> Result<(), Error> {
    // Every step is timed, whether a claimed message or a worker's result asked for it.
    let t0 = std::time::Instant::now();
    let store: &dyn Store = state.store.as_ref();
    let mut tx = store.begin().await?;
    let t_begin = t0.elapsed();
    // The document this executor wrote last for the execution, if it still has it: the row
    // is then locked without reading the document again.
    let kept = state.documents.take(id);
    let known_version = kept.as_ref().map_or(0, |(version, _)| *version);
    let mut row = match tx.lock_execution_unless(id, known_version).await {
        Ok(row) => row,
        Err(baton_store::Error::ExecutionNotFound(_)) => {
            // A notice for an execution that does not exist (a parent or child from a store
            // restored without it) can never be delivered.
            tracing::warn!(execution = %id, "dropping a message for a missing execution");
            drop(tx);
            store.ack(acks).await?;
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    let mut execution: Execution = match kept {
        Some((version, execution)) if version == row.version && row.document.is_null() => execution,
        // The row's document is rewritten below: take it rather than copy it.
        _ => serde_json::from_value(std::mem::take(&mut row.document)).map_err(|e| {
            Error::BadDocument {
                execution_id: id.to_string(),
                reason: e.to_string(),
            }
        })?,
    };
    let t_lock = t0.elapsed();
    let flow = state
        .flows
        .get_in(tx.as_mut(), &row.namespace, &row.flow_id, row.flow_revision)
        .await?;

    let observed = super::metrics::Before::of(&execution);
    let before = execution.state;
    let gate = concurrency::gate(
        tx.as_mut(),
        &flow.flow,
        &execution,
        events,
        chrono::Utc::now(),
    )
    .await?;
    // Read after the slot decision, which may have waited for another execution's end: the
    // times of executions that take turns never overlap.
    let now = chrono::Utc::now();
    let mut actions = match &gate {
        Gate::Step => run_step(state, &flow.flow, &mut execution, events, now),
        Gate::StepRestart => {
            let mut events = events.to_vec();
            events.push(Event::Restart);
            run_step(state, &flow.flow, &mut execution, &events, now)
        }
        Gate::Wait | Gate::Refuse { .. } => {
            concurrency::hold(&mut execution, &gate, now);
            Vec::new()
        }
    };
    let mut follow_ups: Vec<NewMessage> = Vec::new();
    // (index in follow_ups, task run id) of each attempt to hand to the hub after the commit.
    let mut dispatches: Vec<(usize, String)> = Vec::new();
    let mut kills: Vec<String> = Vec::new();
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
                    // Claimed by this executor from the start: it hands the attempt to its hub
                    // right after the commit, so no other executor needs to hear of it — one
                    // takes it over only when this one dies and the claim's lease runs out.
                    follow_ups.push(
                        DispatchMessage::message(&execution.id, &task_run_id, attempt)
                            .claimed_by(&state.options.consumer_id, state.options.lease),
                    );
                    dispatches.push((follow_ups.len() - 1, task_run_id));
                }
                Action::WakeAt { task_run_id, at } => {
                    follow_ups.push(StepMessage::at(
                        &execution.id,
                        vec![Event::Timer { task_run_id }],
                        at,
                    ));
                }
                Action::Kill { task_run_id } => kills.push(task_run_id),
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
            actions = run_step(
                state,
                &flow.flow,
                &mut execution,
                &answers,
                chrono::Utc::now(),
            );
        }
    }
    if !before.is_terminal() && execution.state.is_terminal() {
        follow_ups.extend(concurrency::release(tx.as_mut(), &flow.flow, &execution).await?);
    }
    if execution.state != before {
        follow_ups.extend(flow_triggers::fire(state, tx.as_mut(), &execution).await?);
    }
    super::write_document(&mut row, &execution)?;
    let t_engine = t0.elapsed();
    let message_ids = tx.write_step(&row, row.version, &follow_ups, acks).await?;
    let t_write = t0.elapsed();
    tx.commit().await?;
    let t_commit = t0.elapsed();
    metrics::histogram!("baton_step_duration_seconds").record(t_commit.as_secs_f64());
    observed.record(&execution);

    for (index, task_run_id) in dispatches {
        if let (Some(message_id), Some(run)) =
            (message_ids.get(index), execution.task_run(&task_run_id))
        {
            super::dispatch::hand_over(state, *message_id, &execution, &flow, run);
        }
    }
    for task_run_id in &kills {
        state.hub.kill(task_run_id);
    }
    // Where a step's time goes, for `BATON_LOG=…,baton_step_timing=debug` (docs/benchmarks.md);
    // the fields are only computed when that target is enabled.
    let us = |d: std::time::Duration| d.as_micros() as u64;
    tracing::debug!(
        target: "baton_step_timing",
        begin = us(t_begin),
        lock = us(t_lock - t_begin),
        engine = us(t_engine - t_lock),
        write = us(t_write - t_engine),
        commit = us(t_commit - t_write),
        handover = us(t0.elapsed() - t_commit),
        doc_bytes = row.document.to_string().len(),
        "step timing"
    );
    // write_step succeeded against version `row.version`, so the row is at the next one.
    state.documents.put(id, row.version + 1, execution);
    Ok(())
}

fn run_step(
    state: &ExecutorState,
    flow: &baton_core::flow::Flow,
    execution: &mut Execution,
    events: &[Event],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Action> {
    let mut new_id = || Uuid::now_v7().to_string();
    let extras = ContextExtras {
        envs: state.envs.clone(),
        working_dir: None,
    };
    let mut ctx = StepContext {
        flow,
        now,
        templates: &state.templates,
        host: state.host.as_ref(),
        new_id: &mut new_id,
        extras: &extras,
    };
    step(&mut ctx, execution, events)
}
