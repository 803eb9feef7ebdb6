//! Tasks: what every task has ([`TaskCommon`]) and what each kind adds ([`TaskProps`]).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::kinds::TaskKind;
use super::property::Property;
use super::props::*;
use crate::diagnostic::Position;
use crate::duration::IsoDuration;

/// One task of a flow, with its children when it is flowable.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Task {
    pub id: String,
    pub kind: TaskKind,
    /// The `type:` as the flow wrote it, kept for display and for Kestra's type-prefix matching.
    pub type_name: String,
    /// Where the task starts in the flow source.
    pub position: Position,
    pub common: TaskCommon,
    pub props: TaskProps,
    /// Tasks run when this flowable's children fail.
    pub errors: Vec<Task>,
    /// Tasks run after this flowable's children, whatever their outcome.
    pub finally: Vec<Task>,
}

impl Task {
    /// Direct children in the order they are declared, each with the branch they belong to.
    pub fn branches(&self) -> Vec<(Branch<'_>, &[Task])> {
        let mut out: Vec<(Branch<'_>, &[Task])> = Vec::new();
        match &self.props {
            TaskProps::If { then, else_, .. } => {
                out.push((Branch::Then, then));
                if !else_.is_empty() {
                    out.push((Branch::Else, else_));
                }
            }
            TaskProps::Switch {
                cases, defaults, ..
            } => {
                for (value, tasks) in cases {
                    out.push((Branch::Case(value), tasks));
                }
                if !defaults.is_empty() {
                    out.push((Branch::Defaults, defaults));
                }
            }
            TaskProps::Parallel { tasks, .. }
            | TaskProps::Sequential { tasks, .. }
            | TaskProps::ForEach { tasks, .. }
            | TaskProps::WorkingDirectory { tasks, .. } => out.push((Branch::Tasks, tasks)),
            _ => {}
        }
        if !self.errors.is_empty() {
            out.push((Branch::Errors, &self.errors));
        }
        if !self.finally.is_empty() {
            out.push((Branch::Finally, &self.finally));
        }
        out
    }

    /// This task and all its descendants, parents before children.
    pub fn walk(&self, visit: &mut dyn FnMut(&Task)) {
        visit(self);
        for (_, children) in self.branches() {
            for child in children {
                child.walk(visit);
            }
        }
    }
}

/// Which list of a flowable a child sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branch<'a> {
    Then,
    Else,
    Case(&'a str),
    Defaults,
    Tasks,
    Errors,
    Finally,
}

impl std::fmt::Display for Branch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Branch::Then => f.write_str("then"),
            Branch::Else => f.write_str("else"),
            Branch::Case(v) => write!(f, "case {v}"),
            Branch::Defaults => f.write_str("defaults"),
            Branch::Tasks => f.write_str("tasks"),
            Branch::Errors => f.write_str("errors"),
            Branch::Finally => f.write_str("finally"),
        }
    }
}

/// Properties every task kind accepts (Kestra's `Task` base class).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCommon {
    pub description: Option<String>,
    pub retry: Option<Retry>,
    pub timeout: Option<Property<IsoDuration>>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub allow_failure: bool,
    #[serde(default)]
    pub allow_warning: bool,
    /// Rendered by the executor before dispatch; a falsy result skips the task. Kestra 2.0 calls
    /// it `when`, and both are accepted.
    #[serde(alias = "when")]
    pub run_if: Option<String>,
    pub worker_group: Option<WorkerGroup>,
    pub log_level: Option<LogLevel>,
    #[serde(default)]
    pub log_to_file: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkerGroup {
    pub key: String,
    pub fallback: Option<WorkerGroupFallback>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkerGroupFallback {
    Wait,
    Fail,
    Cancel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// How a failed task (or execution) is tried again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retry {
    #[serde(rename = "type")]
    pub kind: RetryKind,
    /// Total attempts, the first included. Kestra spells it both ways.
    #[serde(alias = "maxAttempts")]
    pub max_attempt: Option<u32>,
    pub max_duration: Option<IsoDuration>,
    /// Constant and exponential: the (first) wait between attempts.
    pub interval: Option<IsoDuration>,
    /// Exponential and random: the longest wait.
    pub max_interval: Option<IsoDuration>,
    /// Random: the shortest wait.
    pub min_interval: Option<IsoDuration>,
    /// Exponential: how much each wait grows (Kestra's default is 2).
    pub delay_factor: Option<f64>,
    #[serde(default)]
    pub warning_on_retry: bool,
    pub behavior: Option<RetryBehavior>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetryKind {
    Constant,
    Exponential,
    Random,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryBehavior {
    RetryFailedTask,
    CreateNewExecution,
}

/// What each kind adds. Flowable kinds carry their child tasks.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskProps {
    Log(LogProps),
    Return(ReturnProps),
    Sleep(SleepProps),
    If {
        condition: String,
        then: Vec<Task>,
        else_: Vec<Task>,
    },
    Switch {
        value: String,
        cases: IndexMap<String, Vec<Task>>,
        defaults: Vec<Task>,
    },
    Parallel {
        concurrent: Property<u32>,
        tasks: Vec<Task>,
    },
    Sequential {
        tasks: Vec<Task>,
    },
    ForEach {
        values: serde_json::Value,
        concurrency_limit: Property<u32>,
        tasks: Vec<Task>,
    },
    WorkingDirectory {
        files: WorkingFiles,
        tasks: Vec<Task>,
    },
    Subflow(SubflowProps),
    Pause(PauseProps),
    Fail(FailProps),
    Labels(LabelsProps),
    OutputValues(OutputValuesProps),
    HttpDownload(HttpProps),
    HttpRequest(HttpProps),
    ShellCommands(ScriptBase, CommandsProps),
    ShellScript(ScriptBase, ScriptProps),
    PythonScript(ScriptBase, PythonScriptProps),
    PythonCommands(ScriptBase, PythonCommandsProps),
    PostgresQueries(JdbcConnection, QueriesProps),
    PostgresQuery(JdbcConnection, QueriesProps),
    PostgresCopyIn(JdbcConnection, CopyInProps, CopyOptions),
    PostgresCopyOut(JdbcConnection, CopyOutProps, CopyOptions),
    DuckdbQueries(DuckdbProps),
    DuckdbQuery(DuckdbProps),
    KvSet(KvSetProps),
    KvGet(KvKeyProps),
    KvDelete(KvKeyProps),
    PurgeCurrentExecutionFiles,
}

/// Parsed values of the scalar properties of flowable tasks; children are read separately.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IfProps {
    pub condition: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchProps {
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParallelProps {
    /// At most this many children at once; 0 means no limit.
    #[serde(default = "zero")]
    pub concurrent: Property<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForEachProps {
    /// A list, a JSON array as a string, or an expression that renders to one.
    pub values: serde_json::Value,
    /// At most this many iterations at once; 0 means no limit. Kestra's default is 1.
    #[serde(default = "one")]
    pub concurrency_limit: Property<u32>,
}

fn zero() -> Property<u32> {
    Property::Value(0)
}

fn one() -> Property<u32> {
    Property::Value(1)
}
