//! Flow `concurrency` limits around the engine step.
//!
//! Before a step that would start an execution (its first step, a queued one's turn, a
//! restart), the step's transaction asks the store for a slot of the flow
//! ([`baton_store::ExecutionTx::acquire_slot`], decided under the flow's lock). After a step
//! that ends an execution, the same transaction gives the slot back and wakes the executions
//! it was handed to. The limit is the one of the revision the execution runs.

use baton_core::engine::Event;
use baton_core::execution::{Execution, State};
use baton_core::flow::{ConcurrencyBehavior, Flow};
use baton_store::{ExecutionTx, NewMessage, SlotDecision, SlotRequest};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Error;
use super::messages::StepMessage;

/// What the limit lets the step do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Gate {
    /// Step as usual (the execution holds a slot, or needs none).
    Step,
    /// Step, restarting the execution: a restart that waited in QUEUED got its slot.
    StepRestart,
    /// Do not step: the execution waits in QUEUED for a slot.
    Wait,
    /// Do not step: the flow is full and its behaviour ends the execution in this state.
    Refuse { state: State, reason: String },
}

/// Decides, inside the step's transaction, whether `execution` may start (or restart) now.
pub(super) async fn gate(
    tx: &mut dyn ExecutionTx,
    flow: &Flow,
    execution: &Execution,
    events: &[Event],
    now: DateTime<Utc>,
) -> Result<Gate, Error> {
    let Some(concurrency) = &flow.concurrency else {
        return Ok(Gate::Step);
    };
    let killing = events.contains(&Event::Kill);
    let restarting = events.contains(&Event::Restart)
        && matches!(
            execution.state,
            State::Failed | State::Killed | State::Cancelled
        );
    let starting = matches!(execution.state, State::Created | State::Queued) && !killing;
    if !(starting || restarting) {
        return Ok(Gate::Step);
    }
    let execution_id = parse_id(&execution.id)?;
    let request = SlotRequest {
        namespace: &execution.namespace,
        flow_id: &execution.flow_id,
        execution_id,
        limit: concurrency.limit.max(1),
        queue: concurrency.behavior == ConcurrencyBehavior::Queue,
        queued_at: if restarting {
            now
        } else {
            execution.created_at
        },
    };
    Ok(match tx.acquire_slot(&request).await? {
        SlotDecision::Acquired
            if execution.state == State::Queued && waits_to_restart(execution) =>
        {
            Gate::StepRestart
        }
        SlotDecision::Acquired => Gate::Step,
        SlotDecision::Queued => Gate::Wait,
        SlotDecision::Refused => {
            let state = match concurrency.behavior {
                ConcurrencyBehavior::Fail => State::Failed,
                _ => State::Cancelled,
            };
            Gate::Refuse {
                state,
                reason: format!(
                    "flow {}.{} already runs {} execution{} (concurrency limit, behavior {})",
                    execution.namespace,
                    execution.flow_id,
                    concurrency.limit,
                    if concurrency.limit == 1 { "" } else { "s" },
                    if state == State::Failed {
                        "FAIL"
                    } else {
                        "CANCEL"
                    },
                ),
            }
        }
    })
}

/// A QUEUED execution that was FAILED, KILLED or CANCELLED before: a restart waiting for its
/// slot, which must restart (re-run what failed) rather than start from scratch.
fn waits_to_restart(execution: &Execution) -> bool {
    let mut states = execution.history.iter().rev().map(|change| change.state);
    states.next() == Some(State::Queued)
        && states.next().is_some_and(|before| {
            matches!(before, State::Failed | State::Killed | State::Cancelled)
        })
}

/// Applies a [`Gate::Wait`] or [`Gate::Refuse`] to the document instead of a step.
pub(super) fn hold(execution: &mut Execution, gate: &Gate, now: DateTime<Utc>) {
    match gate {
        Gate::Wait => {
            execution.set_state(State::Queued, now);
            // A restart waiting for its slot is no longer ended.
            execution.ended_at = None;
            execution.error = None;
        }
        Gate::Refuse { state, reason } => {
            execution.set_state(*state, now);
            execution.ended_at = Some(now);
            execution.error = Some(reason.clone());
        }
        Gate::Step | Gate::StepRestart => {}
    }
}

/// Frees the slot of an execution that just ended, in the step's transaction, and returns the
/// step messages that start the executions it went to.
pub(super) async fn release(
    tx: &mut dyn ExecutionTx,
    flow: &Flow,
    execution: &Execution,
) -> Result<Vec<NewMessage>, Error> {
    if flow.concurrency.is_none() {
        return Ok(Vec::new());
    }
    let promoted = tx
        .release_slot(
            &execution.namespace,
            &execution.flow_id,
            parse_id(&execution.id)?,
        )
        .await?;
    Ok(promoted
        .iter()
        .map(|id| StepMessage::message(&id.to_string(), Vec::new()))
        .collect())
}

fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id).map_err(|e| Error::BadDocument {
        execution_id: id.to_owned(),
        reason: format!("id: {e}"),
    })
}
