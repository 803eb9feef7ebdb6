//! Between the `dispatch` queue and the workers: claimed attempts go to the hub; what the hub
//! reports goes back to the engine as events, in the same transaction as the dispatch ack.
//!
//! A dispatch message stays claimed (its lease renewed) while its attempt is with the hub. If
//! this executor dies, the lease runs out, another executor claims the message again, and —
//! since nobody knows whether a worker still runs that attempt — tells the engine the attempt
//! was lost; the engine then dispatches a new attempt.

use std::collections::HashMap;
use std::sync::Mutex;

use baton_core::engine::Event;
use baton_core::execution::{Execution, State, task_context};
use baton_store::{Claimed, LogEntry, NewMessage, Store};
use uuid::Uuid;

use super::messages::{DispatchMessage, StepMessage};
use super::{Error, ExecutorState};
use crate::hub::{Assignment, FlowSource, HubEvent, TaskState};

/// Attempts this executor has handed to the hub: task run id → (dispatch message id, attempt,
/// execution id).
#[derive(Default)]
pub struct InFlight {
    by_task_run: Mutex<HashMap<String, (i64, u32, String)>>,
}

impl InFlight {
    pub fn message_ids(&self) -> Vec<i64> {
        self.lock().values().map(|(id, _, _)| *id).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, u32, String)>> {
        self.by_task_run.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, task_run_id: &str, attempt: u32) -> Option<(i64, String)> {
        let mut map = self.lock();
        match map.get(task_run_id) {
            Some((_, a, _)) if *a == attempt => {
                map.remove(task_run_id).map(|(id, _, exec)| (id, exec))
            }
            _ => None,
        }
    }

    fn execution_of(&self, task_run_id: &str) -> Option<String> {
        self.lock()
            .get(task_run_id)
            .map(|(_, _, exec)| exec.clone())
    }
}

/// Hands one claimed dispatch message to the hub, or settles it when it is stale or orphaned.
pub async fn dispatch(state: &ExecutorState, message: &Claimed) -> Result<(), Error> {
    let payload: DispatchMessage =
        serde_json::from_value(message.payload.clone()).map_err(|e| Error::BadMessage {
            id: message.id,
            reason: e.to_string(),
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
    let context = task_context(
        &flow.flow,
        &execution,
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
    state.in_flight.lock().insert(
        payload.task_run_id.clone(),
        (message.id, payload.attempt, payload.execution_id.clone()),
    );
    state.hub.assign(Assignment {
        execution_id: payload.execution_id,
        task_run_id: payload.task_run_id,
        attempt: payload.attempt,
        flow: FlowSource {
            namespace: row.namespace,
            id: row.flow_id,
            revision: u32::try_from(flow.revision).unwrap_or_default(),
            source: flow.source.clone(),
        },
        task_id: run.task_id.clone(),
        context,
        worker_group,
    });
    Ok(())
}

/// Turns what the hub reports into engine events (and logs into the store).
pub async fn on_hub_event(state: &ExecutorState, event: HubEvent) -> Result<(), Error> {
    let store: &dyn Store = state.store.as_ref();
    match event {
        HubEvent::Started {
            task_run_id,
            attempt,
            worker_id,
        } => {
            let Some(execution_id) = state.in_flight.execution_of(&task_run_id) else {
                return Ok(());
            };
            let started = Event::TaskStarted {
                task_run_id,
                attempt,
                worker_id,
                at: chrono::Utc::now(),
            };
            store
                .enqueue(&[StepMessage::message(&execution_id, vec![started])])
                .await?;
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
            settle_attempt(state, &task_run_id, attempt, finished).await?;
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
            settle_attempt(state, &task_run_id, attempt, lost).await?;
        }
        HubEvent::HandedBack {
            task_run_id,
            attempt,
        } => {
            let back = Event::HandedBack {
                task_run_id: task_run_id.clone(),
                attempt,
            };
            settle_attempt(state, &task_run_id, attempt, back).await?;
        }
        HubEvent::Logs(lines) => {
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
                store.append_logs(&entries).await?;
            }
        }
        HubEvent::WorkerJoined(_) | HubEvent::WorkerLeft { .. } => {}
    }
    Ok(())
}

/// For an attempt this executor handed to the hub: enqueues the engine's event and acks the
/// attempt's dispatch message in one transaction. Nothing when the attempt is not in flight
/// here (already settled, or superseded).
async fn settle_attempt(
    state: &ExecutorState,
    task_run_id: &str,
    attempt: u32,
    event: Event,
) -> Result<(), Error> {
    let Some((message_id, execution_id)) = state.in_flight.take(task_run_id, attempt) else {
        return Ok(());
    };
    settle(
        state.store.as_ref(),
        message_id,
        StepMessage::message(&execution_id, vec![event]),
    )
    .await
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
