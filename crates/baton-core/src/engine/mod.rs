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
mod subflow;
#[cfg(test)]
mod subflow_simulation;
#[cfg(test)]
mod subflow_tests;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::execution::{Execution, ParentExecution, State};
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
    /// The executor created the execution that [`Action::StartSubflow`] asked for.
    SubflowStarted { task_run_id: String },
    /// The executor could not create it (no such flow, refused inputs…).
    SubflowRefused { task_run_id: String, error: String },
    /// A subflow's execution ended; sent by its own step, through [`Action::Notify`].
    SubflowEnded {
        task_run_id: String,
        execution_id: String,
        state: State,
        /// The child flow's outputs (or the Subflow task's deprecated `outputs`, rendered).
        #[serde(default)]
        outputs: serde_json::Map<String, serde_json::Value>,
        /// Why the outputs could not be rendered: the Subflow task fails with it.
        #[serde(default)]
        error: Option<String>,
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
    /// Create an execution of another flow, in the same transaction, then step this execution
    /// again with [`Event::SubflowStarted`] or [`Event::SubflowRefused`].
    StartSubflow(Box<SubflowStart>),
    /// Deliver `event` to another execution (a subflow's parent or child) in the same
    /// transaction: a child's end to its parent, a kill or a restart to a child.
    Notify { execution_id: String, event: Event },
    /// The execution reached a terminal state.
    Ended { state: State },
}

/// How deep subflows may nest: an execution whose parents already form a chain this long
/// starts no subflow, so a cycle (A starts B starts A…) ends with a failed task instead of
/// running forever. Kestra only refuses a flow that starts itself directly; Baton refuses that
/// too, when the flow is read.
pub const MAX_SUBFLOW_DEPTH: usize = 10;

/// Everything the executor needs to create a subflow's execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubflowStart {
    pub task_run_id: String,
    /// The new execution's id, chosen by the engine so the task run shows it at once.
    pub execution_id: String,
    pub namespace: String,
    pub flow_id: String,
    /// The latest revision when `None`.
    pub revision: Option<u32>,
    /// Rendered, not yet coerced by the child flow's input declarations.
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// The parent's labels when `inheritLabels` is set; the child flow's own keys win over them.
    pub inherited_labels: Vec<(String, String)>,
    /// The task's rendered `labels`; they win over the flow's and the inherited ones.
    pub labels: Vec<(String, String)>,
    /// Start the child at this date instead of now.
    pub schedule_date: Option<DateTime<Utc>>,
    /// The link the child keeps to this execution.
    pub parent: ParentExecution,
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
        if !events.contains(&Event::Restart) {
            return Vec::new();
        }
        if !restartable {
            // A parent restarting its Subflow task asked: it waits for this answer instead.
            return engine.end_notice(execution).into_iter().collect();
        }
    }
    for event in events {
        engine.apply(execution, event);
    }
    if execution.state == State::Created || execution.state == State::Queued {
        execution.set_state(State::Running, engine.ctx.now);
    }
    engine.advance_execution(execution);
    if engine
        .actions
        .iter()
        .any(|a| matches!(a, Action::Ended { .. }))
        && let Some(notice) = engine.end_notice(execution)
    {
        engine.actions.push(notice);
    }
    engine.actions
}
