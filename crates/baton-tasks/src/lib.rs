//! Baton's task implementations: given a task of a parsed flow and its template context, render
//! its properties and run it. One file per task family; `process.rs` is the Process runner and
//! `docker/` the Docker runner.
//!
//! Script tasks run inside a [`WorkingDir`] (`workdir.rs`): the directory is prepared
//! (`inputFiles` written, `kestra://` URIs downloaded from internal storage), the runner runs
//! the commands in it, and the files matching `outputFiles` are collected into internal storage
//! afterwards. A runner only needs the directory's path: the Process runner uses it as the
//! command's current directory, the Docker runner copies it into and out of the container.
//!
//! Invariant: this crate (called by `baton-worker`) is the only place Baton runs user code.
//! Nothing here talks to the executor or to Baton's database: results and logs go back to the
//! caller. The Postgres tasks (`postgres/`) connect to the user's databases, named by the flow.

pub mod docker;
mod duckdb;
mod fail;
mod http;
pub mod kv;
mod log;
mod namespace_files;
mod outputs;
mod postgres;
mod process;
mod protocol;
mod purge;
mod python;
mod render;
mod rows;
mod run_files;
mod shell;
mod sleep;
mod sql_split;
pub mod workdir;

pub use workdir::WorkingDir;

use std::path::PathBuf;
use std::sync::Arc;

use baton_core::flow::task::LogLevel;
use baton_core::flow::{Task, TaskProps};
use baton_core::template::{TemplateEngine, TemplateHost};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

pub use docker::{DockerEngine, DockerSettings};
pub use tokio_util::sync::CancellationToken as Cancel;

/// Everything a task needs from the worker besides the task itself.
pub struct RunContext {
    pub engine: Arc<TemplateEngine>,
    pub host: Arc<dyn TemplateHost>,
    /// The template context: inputs, outputs of earlier tasks, vars, execution, taskrun…
    pub context: serde_json::Value,
    pub logs: LogSink,
    /// Where per-task-run working directories are created (and removed afterwards).
    pub work_root: PathBuf,
    /// The Docker engine, for script tasks on the Docker runner. Shared by the worker's runs.
    pub docker: Arc<DockerEngine>,
    /// Internal storage (`inputFiles` URIs, `outputFiles`, purge); `None` when the worker was
    /// started without one, and then those features fail with a clear error.
    pub storage: Option<baton_storage::Storage>,
    /// The namespace KV store (`kv.*` tasks), reached through the executor.
    pub kv: Arc<dyn kv::KvAccess>,
    /// The DuckDB CLI binary (PyPI's `duckdb-cli`), for the DuckDB tasks; a bare name is looked
    /// up on `PATH`.
    pub duckdb: PathBuf,
}

/// One log line a task produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskLog {
    pub level: LogLevel,
    pub timestamp: DateTime<Utc>,
    pub message: String,
}

/// Where a task's log lines go. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LogSink {
    sender: UnboundedSender<TaskLog>,
}

impl LogSink {
    pub fn new(sender: UnboundedSender<TaskLog>) -> Self {
        LogSink { sender }
    }

    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        // The receiver goes away only when the worker stops caring about this task run.
        let _ = self.sender.send(TaskLog {
            level,
            timestamp: Utc::now(),
            message: message.into(),
        });
    }
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    Success,
    Warning,
    Failed,
    Killed,
}

/// The end of an attempt: its state, outputs (a JSON object) and, when it did not succeed, why.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskOutcome {
    pub state: TaskState,
    pub outputs: serde_json::Value,
    pub error: Option<String>,
}

impl TaskOutcome {
    pub fn success(outputs: serde_json::Value) -> Self {
        TaskOutcome {
            state: TaskState::Success,
            outputs,
            error: None,
        }
    }

    pub fn failed(error: impl Into<String>) -> Self {
        TaskOutcome {
            state: TaskState::Failed,
            outputs: serde_json::json!({}),
            error: Some(error.into()),
        }
    }

    pub fn killed() -> Self {
        TaskOutcome {
            state: TaskState::Killed,
            outputs: serde_json::json!({}),
            error: Some("killed".to_owned()),
        }
    }
}

/// Runs one attempt of `task`. Cancelling `cancel` stops it (its processes are killed) and the
/// outcome is KILLED; the task's `timeout` stops it the same way with a FAILED outcome. Every
/// failure is an outcome, never a panic or an error.
pub async fn run_task(task: &Task, run: &RunContext, cancel: &CancellationToken) -> TaskOutcome {
    let timeout = match render::timeout(task, run) {
        Ok(timeout) => timeout,
        Err(error) => return TaskOutcome::failed(error),
    };
    let inner = cancel.child_token();
    let work = run_kind(task, run, &inner);
    let Some((limit, text)) = timeout else {
        return work.await;
    };
    tokio::pin!(work);
    tokio::select! {
        outcome = &mut work => outcome,
        () = tokio::time::sleep(limit) => {
            inner.cancel();
            let mut outcome = work.await;
            if !cancel.is_cancelled() {
                outcome.state = TaskState::Failed;
                outcome.error = Some(format!("timed out after {text}"));
            }
            outcome
        }
    }
}

async fn run_kind(task: &Task, run: &RunContext, cancel: &CancellationToken) -> TaskOutcome {
    if cancel.is_cancelled() {
        return TaskOutcome::killed();
    }
    match &task.props {
        TaskProps::Log(props) => log::run(props, run),
        TaskProps::Return(props) => outputs::run_return(props, run),
        TaskProps::OutputValues(props) => outputs::run_output_values(props, run),
        TaskProps::Fail(props) => fail::run(props, run),
        TaskProps::Sleep(props) => sleep::run(props, run, cancel).await,
        TaskProps::ShellCommands(base, props) => {
            shell::run(base, shell::Body::Commands(props), run, cancel).await
        }
        TaskProps::ShellScript(base, props) => {
            shell::run(base, shell::Body::Script(props), run, cancel).await
        }
        TaskProps::PythonScript(base, props) => {
            shell::run(base, shell::Body::PythonScript(props), run, cancel).await
        }
        TaskProps::PythonCommands(base, props) => {
            shell::run(base, shell::Body::PythonCommands(props), run, cancel).await
        }
        TaskProps::HttpDownload(props) => http::run(http::Kind::Download, props, run, cancel).await,
        TaskProps::HttpRequest(props) => http::run(http::Kind::Request, props, run, cancel).await,
        TaskProps::PostgresQueries(connection, props) => {
            postgres::queries(postgres::Statements::Many, connection, props, run, cancel).await
        }
        TaskProps::PostgresQuery(connection, props) => {
            postgres::queries(postgres::Statements::One, connection, props, run, cancel).await
        }
        TaskProps::PostgresCopyIn(connection, props, options) => {
            postgres::copy_in(connection, props, options, run, cancel).await
        }
        TaskProps::PostgresCopyOut(connection, props, options) => {
            postgres::copy_out(connection, props, options, run, cancel).await
        }
        TaskProps::DuckdbQueries(props) => {
            duckdb::run(duckdb::Statements::Many, props, run, cancel).await
        }
        TaskProps::DuckdbQuery(props) => {
            duckdb::run(duckdb::Statements::One, props, run, cancel).await
        }
        TaskProps::KvSet(props) => kv::set(props, run).await,
        TaskProps::KvGet(props) => kv::get(props, run).await,
        TaskProps::KvDelete(props) => kv::delete(props, run).await,
        TaskProps::PurgeCurrentExecutionFiles => purge::run(run).await,
        TaskProps::If { .. }
        | TaskProps::Switch { .. }
        | TaskProps::Parallel { .. }
        | TaskProps::Sequential { .. }
        | TaskProps::ForEach { .. }
        | TaskProps::Subflow(_)
        | TaskProps::Pause(_)
        | TaskProps::Labels(_) => TaskOutcome::failed(format!(
            "task type {} is resolved by the executor, not run on a worker",
            task.type_name
        )),
        _ => TaskOutcome::failed(format!(
            "task type {} is not supported by this worker yet",
            task.type_name
        )),
    }
}
