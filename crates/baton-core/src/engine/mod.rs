//! The engine step: given a flow, an execution and what just happened, what happens next?
//!
//! A pure function. The executor loads the execution, calls [`step`] with the events it
//! received (task results from workers, timers, a kill request…), and commits the updated
//! execution together with the returned [`Action`]s in one transaction. Flowable tasks (If,
//! Switch, Parallel, Sequential, ForEach, Pause, Labels, Subflow) are resolved here; runnable
//! tasks become [`Action::Dispatch`] for a worker.
//!
//! Task runs are created lazily, when the list they belong to reaches them, so an execution
//! document only holds what has started.

mod advance;
mod events;
mod flowables;
mod restart;
mod retry;
#[cfg(test)]
mod simulation;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::execution::{Execution, State};
use crate::flow::Flow;
use crate::template::{TemplateEngine, TemplateHost};

pub use restart::replay;

/// Something that happened to an execution since the last step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A worker started an attempt.
    TaskStarted {
        task_run_id: String,
        attempt: u32,
        worker_id: String,
        at: DateTime<Utc>,
        /// When the executor handed the attempt to its workers (see `Attempt::dispatched_at`).
        #[serde(default)]
        dispatched_at: Option<DateTime<Utc>>,
    },
    /// A worker finished an attempt (SUCCESS, WARNING, FAILED or KILLED).
    TaskFinished {
        task_run_id: String,
        attempt: u32,
        state: State,
        #[serde(default)]
        outputs: serde_json::Map<String, serde_json::Value>,
        error: Option<String>,
    },
    /// The worker running this attempt vanished; its lease ran out.
    LeaseExpired { task_run_id: String, attempt: u32 },
    /// A draining worker gave this attempt back unfinished.
    HandedBack { task_run_id: String, attempt: u32 },
    /// A wake-up the engine asked for with [`Action::WakeAt`] is due.
    Timer { task_run_id: String },
    /// A person or the API asked to kill the execution.
    Kill,
    /// A person or the API resumed a paused execution.
    Resume,
    /// Run a failed or killed execution again from where it failed, under the same id.
    Restart,
    /// A subflow started by [`Action::StartSubflow`] got its execution id, or ended.
    SubflowUpdate {
        task_run_id: String,
        execution_id: String,
        state: State,
        #[serde(default)]
        outputs: serde_json::Map<String, serde_json::Value>,
    },
}

/// What the executor must do after a step, in the same transaction as the execution update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Send this attempt of a runnable task run to a worker.
    Dispatch { task_run_id: String, attempt: u32 },
    /// Tell the worker running this task run to stop it.
    Kill { task_run_id: String },
    /// Call the engine back with [`Event::Timer`] at this time (retry backoff, pause duration).
    WakeAt {
        task_run_id: String,
        at: DateTime<Utc>,
    },
    /// Create an execution of another flow; report back with [`Event::SubflowUpdate`].
    StartSubflow {
        task_run_id: String,
        namespace: String,
        flow_id: String,
        revision: Option<u32>,
        inputs: serde_json::Map<String, serde_json::Value>,
        labels: serde_json::Map<String, serde_json::Value>,
        wait: bool,
    },
    /// The execution reached a terminal state.
    Ended { state: State },
}

/// What a step may use besides the execution: templates, the host behind `kv()`/`secret()`,
/// the clock reading and a source of fresh ids (the core reads no clock and no randomness).
pub struct StepContext<'a> {
    pub flow: &'a Flow,
    pub now: DateTime<Utc>,
    pub templates: &'a TemplateEngine,
    pub host: &'a dyn TemplateHost,
    pub new_id: &'a mut dyn FnMut() -> String,
    /// `envs.*` and the like, for templates the executor renders (If conditions, ForEach values).
    pub extras: &'a crate::execution::ContextExtras,
}

/// Applies `events` to `execution`, advances it as far as it can go, and returns what the
/// executor must do. Events for attempts that are no longer current, or for an execution that
/// has already ended, change nothing: a late or repeated message is harmless.
pub fn step(ctx: &mut StepContext<'_>, execution: &mut Execution, events: &[Event]) -> Vec<Action> {
    let mut engine = advance::Engine {
        ctx,
        actions: Vec::new(),
    };
    if execution.state.is_terminal() {
        // Only a restart brings an ended execution back, and only one that did not succeed.
        let restartable = matches!(
            execution.state,
            State::Failed | State::Killed | State::Cancelled
        );
        if !(restartable && events.contains(&Event::Restart)) {
            return Vec::new();
        }
    }
    for event in events {
        engine.apply(execution, event);
    }
    if execution.state == State::Created || execution.state == State::Queued {
        execution.set_state(State::Running, engine.ctx.now);
    }
    engine.advance_execution(execution);
    engine.actions
}
