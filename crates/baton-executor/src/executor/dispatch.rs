//! Between the engine and the workers: attempts go to the hub as soon as the step that made
//! them commits; what the hub reports goes back to the engine, stepping the execution at once.
//!
//! The step that makes an attempt also enqueues its `dispatch` message, already claimed by this
//! executor, which keeps the claim's lease renewed while a worker has the attempt. If this
//! executor dies, the lease runs out, another executor claims the message again, and — since
//! nobody knows whether a worker still runs that attempt — tells the engine the attempt was
//! lost; the engine then dispatches a new attempt.
//!
//! A worker's result is stepped right away, in one transaction with the ack of the attempt's
//! dispatch message: one durable commit per finished task run, no trip through the queue. The
//! start of a task run usually reaches the engine in that same step; only a task run still
//! running after [`START_REPORT_DELAY`] gets a step of its own, so it shows RUNNING.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_core::engine::Event;
use baton_core::execution::{Execution, State, TaskRun, task_context};
use baton_store::{Claimed, LogEntry, NewMessage, Store};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::flows::FlowRevision;
use super::messages::{DispatchMessage, StepMessage};
use super::{Error, ExecutorState};
use crate::hub::{Assignment, FlowSource, HubEvent, TaskState};

/// How long a task run may run before its start gets a step (and a commit) of its own.
pub const START_REPORT_DELAY: Duration = Duration::from_millis(100);

/// Attempts this executor has handed to the hub, by task run id.
#[derive(Default)]
pub struct InFlight {
    by_task_run: Mutex<HashMap<String, Held>>,
}

/// One attempt with the hub.
struct Held {
    /// Its dispatch message, claimed by this executor while a worker has the attempt.
    message_id: i64,
    attempt: u32,
    execution_id: String,
    /// When it went to the hub, the step that made it committed.
    dispatched_at: DateTime<Utc>,
    /// The worker it was pushed to and when, while the engine has not heard of it.
    unreported_start: Option<(String, DateTime<Utc>)>,
}

/// A start the engine has not heard of, taken to report it.
struct Start {
    execution_id: String,
    worker_id: String,
    at: DateTime<Utc>,
    dispatched_at: DateTime<Utc>,
}

impl InFlight {
    pub fn message_ids(&self) -> Vec<i64> {
        self.lock().values().map(|held| held.message_id).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.by_task_run.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, task_run_id: &str, attempt: u32) -> Option<Held> {
        let mut map = self.lock();
        match map.get(task_run_id) {
            Some(held) if held.attempt == attempt => map.remove(task_run_id),
            _ => None,
        }
    }

    fn execution_of(&self, task_run_id: &str) -> Option<String> {
        self.lock()
            .get(task_run_id)
            .map(|held| held.execution_id.clone())
    }

    /// Records the hub's push to a worker; false when the attempt is not held here.
    fn started(&self, task_run_id: &str, attempt: u32, worker_id: String) -> bool {
        match self.lock().get_mut(task_run_id) {
            Some(held) if held.attempt == attempt => {
                held.unreported_start = Some((worker_id, Utc::now()));
                true
            }
            _ => false,
        }
    }

    fn take_start(&self, task_run_id: &str, attempt: u32) -> Option<Start> {
        let mut map = self.lock();
        let held = map.get_mut(task_run_id).filter(|h| h.attempt == attempt)?;
        let (worker_id, at) = held.unreported_start.take()?;
        Some(Start {
            execution_id: held.execution_id.clone(),
            worker_id,
            at,
            dispatched_at: held.dispatched_at,
        })
    }
}

/// Hands one attempt to the hub. `message_id` is its dispatch message, claimed by this executor.
pub(super) fn hand_over(
    state: &ExecutorState,
    message_id: i64,
    execution: &Execution,
    flow: &FlowRevision,
    run: &TaskRun,
) {
    let context = task_context(
        &flow.flow,
        execution,
        Some(run),
        &baton_core::execution::ContextExtras {
            envs: state.envs.clone(),
            working_dir: None,
        },
    );
    let worker_group = flow
        .flow
        .find_task(&run.task_id)
        .and_then(|t| t.common.worker_group.as_ref())
        .map(|g| g.key.clone());
    // Held before the hub has it: the hub may report on it at once.
    state.in_flight.lock().insert(
        run.id.clone(),
        Held {
            message_id,
            attempt: run.attempt(),
            execution_id: execution.id.clone(),
            dispatched_at: Utc::now(),
            unreported_start: None,
        },
    );
    state.hub.assign(Assignment {
        execution_id: execution.id.clone(),
        task_run_id: run.id.clone(),
        attempt: run.attempt(),
        flow: FlowSource {
            namespace: execution.namespace.clone(),
            id: execution.flow_id.clone(),
            revision: u32::try_from(flow.revision).unwrap_or_default(),
            source: flow.source.clone(),
        },
        task_id: run.task_id.clone(),
        context,
        worker_group,
    });
}

/// A dispatch message claimed from the queue: one enqueued unclaimed (by an older executor),
/// or one taken over from an executor that died.
pub async fn dispatch(state: &ExecutorState, message: &Claimed) -> Result<(), Error> {
    let payload: DispatchMessage =
        serde::Deserialize::deserialize(&message.payload).map_err(|e: serde_json::Error| {
            Error::BadMessage {
                id: message.id,
                reason: e.to_string(),
            }
        })?;
    let store: &dyn Store = state.store.as_ref();
    if message.attempt > 1 {
        // Claimed before by an executor that is gone: the attempt's fate is unknown.
        let lost = Event::LeaseExpired {
            task_run_id: payload.task_run_id.clone(),
            attempt: payload.attempt,
        };
        return settle(
            store,
            message.id,
            StepMessage::message(&payload.execution_id, vec![lost]),
        )
        .await;
    }
    let id = Uuid::parse_str(&payload.execution_id).map_err(|e| Error::BadMessage {
        id: message.id,
        reason: e.to_string(),
    })?;
    let row = store.get_execution(id).await?;
    let execution: Execution =
        serde_json::from_value(row.document).map_err(|e| Error::BadDocument {
            execution_id: payload.execution_id.clone(),
            reason: e.to_string(),
        })?;
    let current = execution.task_run(&payload.task_run_id).filter(|run| {
        run.attempt() == payload.attempt
            && !run.state.is_terminal()
            && !execution.state.is_terminal()
    });
    let Some(run) = current else {
        store.ack(&[message.id]).await?;
        return Ok(());
    };
    let flow = state
        .flows
        .get(store, &row.namespace, &row.flow_id, row.flow_revision)
        .await?;
    hand_over(state, message.id, &execution, &flow, run);
    Ok(())
}

/// Turns what the hub reports into engine steps (and logs into the store).
pub async fn on_hub_event(state: &Arc<ExecutorState>, event: HubEvent) -> Result<(), Error> {
    match event {
        HubEvent::Started {
            task_run_id,
            attempt,
            worker_id,
        } => {
            if state.in_flight.started(&task_run_id, attempt, worker_id) {
                tokio::spawn(report_start_later(state.clone(), task_run_id, attempt));
            }
        }
        HubEvent::Finished(result) => {
            let (task_run_id, attempt) = (result.task_run_id.clone(), result.attempt);
            let outputs = match result.outputs {
                serde_json::Value::Object(map) => map,
                _ => Default::default(),
            };
            let finished = Event::TaskFinished {
                task_run_id: result.task_run_id,
                attempt: result.attempt,
                state: match result.state {
                    TaskState::Success => State::Success,
                    TaskState::Warning => State::Warning,
                    TaskState::Failed => State::Failed,
                    TaskState::Killed => State::Killed,
                },
                outputs,
                error: result.error_message,
            };
            // Killed before a worker took it: it never started.
            let started_at = (!result.worker_id.is_empty()).then_some(result.started_at);
            settle_attempt(state, &task_run_id, attempt, started_at, finished).await?;
        }
        HubEvent::LeaseExpired {
            task_run_id,
            attempt,
            ..
        } => {
            let lost = Event::LeaseExpired {
                task_run_id: task_run_id.clone(),
                attempt,
            };
            settle_attempt(state, &task_run_id, attempt, None, lost).await?;
        }
        HubEvent::HandedBack {
            task_run_id,
            attempt,
        } => {
            let back = Event::HandedBack {
                task_run_id: task_run_id.clone(),
                attempt,
            };
            settle_attempt(state, &task_run_id, attempt, None, back).await?;
        }
        HubEvent::Logs(lines) => append_logs(state, lines).await?,
        HubEvent::WorkerJoined(_) | HubEvent::WorkerLeft { .. } => {}
    }
    Ok(())
}

/// Writes log lines of attempts held here (a line of an attempt no longer held has nowhere to
/// go: its execution is unknown).
pub async fn append_logs(
    state: &ExecutorState,
    lines: Vec<crate::hub::LogLine>,
) -> Result<(), Error> {
    let entries: Vec<LogEntry> = lines
        .into_iter()
        .filter_map(|line| {
            let execution_id = state.in_flight.execution_of(&line.task_run_id)?;
            Some(LogEntry {
                execution_id: Uuid::parse_str(&execution_id).ok()?,
                task_run_id: Some(line.task_run_id),
                attempt: i32::try_from(line.attempt).unwrap_or(i32::MAX),
                level: log_level(line.level),
                timestamp: line.timestamp,
                message: line.message,
            })
        })
        .collect();
    if !entries.is_empty() {
        state.store.append_logs(&entries).await?;
    }
    Ok(())
}

/// For an attempt this executor handed to the hub: steps its execution with `event` (after its
/// start, when the engine has not heard of that yet) and acks the attempt's dispatch message,
/// in one transaction. When that step fails, the events go on the executions queue instead,
/// with the same ack, for the step loop to retry. Nothing when the attempt is not in flight
/// here (already settled, or superseded).
async fn settle_attempt(
    state: &ExecutorState,
    task_run_id: &str,
    attempt: u32,
    started_at: Option<DateTime<Utc>>,
    event: Event,
) -> Result<(), Error> {
    let Some(held) = state.in_flight.take(task_run_id, attempt) else {
        return Ok(());
    };
    let mut events = Vec::with_capacity(2);
    if let Some((worker_id, pushed_at)) = held.unreported_start {
        events.push(Event::TaskStarted {
            task_run_id: task_run_id.to_owned(),
            attempt,
            worker_id,
            // The worker's own clock when it has one: when the task really began.
            at: started_at.unwrap_or(pushed_at),
            dispatched_at: Some(held.dispatched_at),
        });
    }
    events.push(event);
    step_or_queue(state, &held.execution_id, events, Some(held.message_id)).await
}

/// Reports a start to the engine once the task run has run for [`START_REPORT_DELAY`], unless
/// its result came first (and carried it).
async fn report_start_later(state: Arc<ExecutorState>, task_run_id: String, attempt: u32) {
    tokio::time::sleep(START_REPORT_DELAY).await;
    let Some(start) = state.in_flight.take_start(&task_run_id, attempt) else {
        return;
    };
    let started = Event::TaskStarted {
        task_run_id,
        attempt,
        worker_id: start.worker_id,
        at: start.at,
        dispatched_at: Some(start.dispatched_at),
    };
    if let Err(error) = step_or_queue(&state, &start.execution_id, vec![started], None).await {
        tracing::warn!(%error, "reporting a task run's start failed");
    }
}

/// Steps the execution with `events` now; if that fails, queues them (acking `message_id` in
/// the same transaction either way).
async fn step_or_queue(
    state: &ExecutorState,
    execution_id: &str,
    events: Vec<Event>,
    message_id: Option<i64>,
) -> Result<(), Error> {
    let acks: Vec<i64> = message_id.into_iter().collect();
    let stepped = match Uuid::parse_str(execution_id) {
        Ok(id) => super::step::step_execution(state, id, &events, &acks).await,
        Err(e) => Err(Error::BadDocument {
            execution_id: execution_id.to_owned(),
            reason: e.to_string(),
        }),
    };
    let Err(error) = stepped else {
        return Ok(());
    };
    tracing::warn!(%error, %execution_id, "stepping on a worker report failed; queueing it");
    // If the failed step did commit after all (a connection lost during COMMIT), the engine
    // ignores the repeated events: they name an attempt that has ended.
    let mut tx = state.store.begin().await?;
    tx.enqueue(&[StepMessage::message(execution_id, events)])
        .await?;
    tx.ack(&acks).await?;
    tx.commit().await?;
    Ok(())
}

/// Enqueues the engine's event and acks the dispatch message in one transaction.
async fn settle(store: &dyn Store, message_id: i64, event: NewMessage) -> Result<(), Error> {
    let mut tx = store.begin().await?;
    tx.enqueue(&[event]).await?;
    tx.ack(&[message_id]).await?;
    tx.commit().await?;
    Ok(())
}

fn log_level(level: baton_core::flow::task::LogLevel) -> baton_store::LogLevel {
    use baton_core::flow::task::LogLevel as L;
    match level {
        L::Trace => baton_store::LogLevel::Trace,
        L::Debug => baton_store::LogLevel::Debug,
        L::Info => baton_store::LogLevel::Info,
        L::Warn => baton_store::LogLevel::Warn,
        L::Error => baton_store::LogLevel::Error,
    }
}
