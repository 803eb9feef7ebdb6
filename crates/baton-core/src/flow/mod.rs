//! The flow model: what a flow file says, typed, with the position of each task.
//!
//! Built by [`crate::parse`]; nothing here does IO.

pub mod condition;
pub mod kinds;
pub mod property;
pub mod props;
pub mod task;
pub mod trigger;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub use kinds::{RunnerKind, TaskKind, TriggerKind};
pub use property::{OneOrMany, Property};
pub use task::{Branch, Retry, Task, TaskCommon, TaskProps};
pub use trigger::{Trigger, TriggerProps};

use crate::inputs::InputSpec;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Flow {
    pub id: String,
    pub namespace: String,
    pub description: Option<String>,
    /// Copied onto every execution of the flow.
    pub labels: IndexMap<String, String>,
    pub inputs: Vec<InputSpec>,
    /// Values may hold templates; they are not rendered unless a task calls `render(vars.x)`.
    pub variables: IndexMap<String, serde_json::Value>,
    pub tasks: Vec<Task>,
    /// Run when a task of `tasks` fails.
    pub errors: Vec<Task>,
    /// Run after `tasks` (and `errors`), whatever the outcome, while the execution still runs.
    pub finally: Vec<Task>,
    /// Run once the execution has reached its final state; they cannot change it.
    pub after_execution: Vec<Task>,
    pub outputs: Vec<FlowOutput>,
    pub triggers: Vec<Trigger>,
    pub concurrency: Option<Concurrency>,
    /// Flow-level retry: applies to tasks that have none of their own.
    pub retry: Option<Retry>,
    pub disabled: bool,
}

impl Flow {
    /// Every task of the flow, nested ones included, parents first, in the order of
    /// `tasks`, `errors`, `finally`, `afterExecution`.
    pub fn all_tasks(&self) -> Vec<&Task> {
        let mut out = Vec::new();
        for list in [
            &self.tasks,
            &self.errors,
            &self.finally,
            &self.after_execution,
        ] {
            for task in list {
                walk(task, &mut out);
            }
        }
        out
    }

    pub fn find_task(&self, id: &str) -> Option<&Task> {
        self.all_tasks().into_iter().find(|t| t.id == id)
    }
}

fn walk<'a>(task: &'a Task, out: &mut Vec<&'a Task>) {
    out.push(task);
    for (_, children) in task.branches() {
        for child in children {
            walk(child, out);
        }
    }
}

/// A value the flow publishes when its execution ends (read by parents as
/// `outputs.<subflow task>.outputs.<id>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowOutput {
    pub id: String,
    #[serde(rename = "type")]
    pub output_type: crate::inputs::InputType,
    pub value: serde_json::Value,
    pub description: Option<String>,
    pub display_name: Option<String>,
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// How many executions of the flow may run at once, and what happens to the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Concurrency {
    pub limit: u32,
    #[serde(default)]
    pub behavior: ConcurrencyBehavior,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConcurrencyBehavior {
    /// Wait in QUEUED until a slot frees up, first come first served.
    #[default]
    Queue,
    /// End in CANCELLED right away.
    Cancel,
    /// End in FAILED right away.
    Fail,
}
