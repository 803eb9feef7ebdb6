//! Executions and their task runs: the state the engine step reads and writes, and the template
//! context a task run renders against.
//!
//! An [`Execution`] is one document: the store keeps it whole (with a version for optimistic
//! concurrency), so a step reads and writes it in one transaction.

mod context;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub use context::{ContextExtras, task_context};

/// Kestra's states, for executions and task runs alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Created,
    Queued,
    Running,
    Paused,
    Retrying,
    Killing,
    Success,
    Warning,
    Failed,
    Killed,
    Cancelled,
    Skipped,
}

impl State {
    pub const ALL: [State; 12] = [
        State::Created,
        State::Queued,
        State::Running,
        State::Paused,
        State::Retrying,
        State::Killing,
        State::Success,
        State::Warning,
        State::Failed,
        State::Killed,
        State::Cancelled,
        State::Skipped,
    ];

    /// Nothing happens to an execution or task run in a terminal state any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            State::Success
                | State::Warning
                | State::Failed
                | State::Killed
                | State::Cancelled
                | State::Skipped
        )
    }

    /// Terminal states that make the surrounding list fail (unless `allowFailure`).
    pub fn is_failure(self) -> bool {
        matches!(self, State::Failed | State::Killed | State::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "CREATED",
            State::Queued => "QUEUED",
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Retrying => "RETRYING",
            State::Killing => "KILLING",
            State::Success => "SUCCESS",
            State::Warning => "WARNING",
            State::Failed => "FAILED",
            State::Killed => "KILLED",
            State::Cancelled => "CANCELLED",
            State::Skipped => "SKIPPED",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        State::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text))
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run of a flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub id: String,
    pub namespace: String,
    pub flow_id: String,
    pub flow_revision: i32,
    pub state: State,
    /// Every state the execution went through, oldest first.
    pub history: Vec<StateChange>,
    /// Coerced input values, nested by dotted id.
    #[serde(default)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub labels: IndexMap<String, String>,
    /// The `trigger.*` variables (schedule dates, webhook body…), when a trigger started it.
    #[serde(default)]
    pub trigger: Option<serde_json::Value>,
    #[serde(default)]
    pub task_runs: Vec<TaskRun>,
    /// The flow's `outputs`, rendered when the execution ends.
    #[serde(default)]
    pub outputs: serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The execution this one replays, kept across replays (Kestra's `originalId`).
    pub original_id: Option<String>,
    /// Why the execution ended the way it did, when the engine decided it (not a task).
    pub error: Option<String>,
    /// The execution whose Subflow task started this one, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_execution: Option<ParentExecution>,
}

impl Execution {
    pub fn new(
        id: String,
        namespace: &str,
        flow_id: &str,
        flow_revision: i32,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            namespace: namespace.to_owned(),
            flow_id: flow_id.to_owned(),
            flow_revision,
            state: State::Created,
            history: vec![StateChange {
                state: State::Created,
                at: now,
            }],
            inputs: serde_json::Map::new(),
            labels: IndexMap::new(),
            trigger: None,
            task_runs: Vec::new(),
            outputs: serde_json::Map::new(),
            created_at: now,
            ended_at: None,
            original_id: None,
            error: None,
            parent_execution: None,
        }
    }

    pub fn set_state(&mut self, state: State, at: DateTime<Utc>) {
        if self.state != state {
            self.state = state;
            self.history.push(StateChange { state, at });
            if state.is_terminal() {
                self.ended_at = Some(at);
            }
        }
    }

    pub fn task_run(&self, id: &str) -> Option<&TaskRun> {
        self.task_runs.iter().find(|t| t.id == id)
    }

    pub fn task_run_mut(&mut self, id: &str) -> Option<&mut TaskRun> {
        self.task_runs.iter_mut().find(|t| t.id == id)
    }

    /// When the execution started running, for `execution.startDate`.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.history
            .iter()
            .find(|c| c.state == State::Running)
            .map_or(self.created_at, |c| c.at)
    }
}

/// The link from a subflow's execution to the Subflow task run that started it: who to tell
/// when it ends, and how deep in a chain of subflows it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentExecution {
    pub execution_id: String,
    pub namespace: String,
    pub flow_id: String,
    pub flow_revision: i32,
    pub task_run_id: String,
    pub task_id: String,
    /// The ForEach value and iteration of that task run, when it runs inside one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_run_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_run_iteration: Option<u32>,
    /// Whether the parent waits for this execution's end (Subflow `wait`).
    pub wait: bool,
    /// The Subflow task's deprecated `outputs`, rendered in this execution's context when it
    /// ends (only when the flow declares no `outputs` of its own).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub outputs: serde_json::Map<String, serde_json::Value>,
    /// `namespace.flowId` of every execution above this one, outermost first; its length is
    /// this execution's depth, bounded by [`crate::engine::MAX_SUBFLOW_DEPTH`].
    pub call_chain: Vec<String>,
}

impl ParentExecution {
    /// The `trigger.*` variables Kestra gives a subflow's execution.
    pub fn trigger_variables(&self) -> serde_json::Value {
        let mut variables = serde_json::json!({
            "executionId": self.execution_id,
            "namespace": self.namespace,
            "flowId": self.flow_id,
            "flowRevision": self.flow_revision,
            "taskRunId": self.task_run_id,
            "taskId": self.task_id,
        });
        if let Some(value) = &self.task_run_value {
            variables["taskRunValue"] = serde_json::json!(value);
        }
        if let Some(iteration) = self.task_run_iteration {
            variables["taskRunIteration"] = serde_json::json!(iteration);
        }
        variables
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    pub state: State,
    pub at: DateTime<Utc>,
}

/// One task of the flow, run once (or once per ForEach value, or per branch occurrence).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRun {
    pub id: String,
    pub task_id: String,
    /// The flowable task run this one runs under; `None` at the top level.
    pub parent_id: Option<String>,
    /// Which list of the parent this task run belongs to (`then`, `case x`, `errors`…).
    pub branch: Option<String>,
    /// The ForEach value this task run belongs to, as text (`taskrun.value`).
    pub value: Option<String>,
    /// The ForEach iteration index (`taskrun.iteration`).
    pub iteration: Option<u32>,
    pub state: State,
    pub history: Vec<StateChange>,
    pub attempts: Vec<Attempt>,
    #[serde(default)]
    pub outputs: serde_json::Map<String, serde_json::Value>,
    /// Why the task run failed, when it did.
    pub error: Option<String>,
}

impl TaskRun {
    pub fn set_state(&mut self, state: State, at: DateTime<Utc>) {
        if self.state != state {
            self.state = state;
            self.history.push(StateChange { state, at });
        }
    }

    /// The number of the current attempt (1-based); 0 before the first dispatch.
    pub fn attempt(&self) -> u32 {
        self.attempts.len() as u32
    }

    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.history
            .iter()
            .find(|c| c.state == State::Running)
            .map(|c| c.at)
    }
}

/// One try of a runnable task run on a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub state: State,
    pub created_at: DateTime<Utc>,
    /// When the executor handed it to its workers, the step that made it committed; with
    /// `started_at`, the dispatch latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub worker_id: Option<String>,
}
