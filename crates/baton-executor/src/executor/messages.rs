//! What the executor puts on its queues. Every message of one execution carries its id as the
//! queue key, so the store hands them out one at a time, in order.

use baton_core::engine::Event;
use baton_store::NewMessage;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Events for the engine step of one execution.
pub const EXECUTIONS: &str = "executions";
/// Attempts waiting for a worker.
pub const DISPATCH: &str = "dispatch";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepMessage {
    pub execution_id: String,
    #[serde(default)]
    pub events: Vec<Event>,
}

impl StepMessage {
    pub fn message(execution_id: &str, events: Vec<Event>) -> NewMessage {
        let payload = serde_json::to_value(StepMessage {
            execution_id: execution_id.to_owned(),
            events,
        })
        .unwrap_or_default();
        NewMessage::new(EXECUTIONS, payload).key(execution_id)
    }

    /// The first step of an execution that must not start before `at` (a subflow's
    /// `scheduleDate`). Unkeyed, unlike every other step message: a keyed message waiting for
    /// its date would hold back the execution's later messages, a kill among them; the step
    /// locks the row, so the two cannot run at once anyway.
    pub fn start_at(execution_id: &str, at: DateTime<Utc>) -> NewMessage {
        let mut message = StepMessage::message(execution_id, Vec::new()).run_at(at);
        message.key = None;
        message
    }

    /// A wake-up: the same message, claimable only from `at`.
    pub fn at(execution_id: &str, events: Vec<Event>, at: DateTime<Utc>) -> NewMessage {
        StepMessage::message(execution_id, events).run_at(at)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchMessage {
    pub execution_id: String,
    pub task_run_id: String,
    pub attempt: u32,
}

impl DispatchMessage {
    pub fn message(execution_id: &str, task_run_id: &str, attempt: u32) -> NewMessage {
        let payload = serde_json::to_value(DispatchMessage {
            execution_id: execution_id.to_owned(),
            task_run_id: task_run_id.to_owned(),
            attempt,
        })
        .unwrap_or_default();
        NewMessage::new(DISPATCH, payload)
    }
}
