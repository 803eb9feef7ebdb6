//! Runs tasks of a flow the way a worker does — rendered against a context that holds the
//! outputs of the tasks run before — with real storage in a temporary directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use baton_core::flow::Flow;
use baton_core::template::{RenderLimits, TemplateEngine, TemplateHost};
use baton_storage::Storage;
use baton_tasks::{Cancel, LogSink, RunContext, TaskLog, TaskOutcome, TaskState};
use serde_json::{Value, json};

/// A template host with no secrets, no KV and no `read()`.
pub struct NoHost;

impl TemplateHost for NoHost {
    fn secret(&self, _: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
    fn kv(&self, _: &str, _: &str) -> Result<Option<Value>, String> {
        Ok(None)
    }
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("no read({path}) in this test"))
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

pub struct Harness {
    pub flow: Flow,
    pub engine: Arc<TemplateEngine>,
    pub host: Arc<dyn TemplateHost>,
    /// The KV store the tasks reach; none by default.
    pub kv: Arc<dyn baton_tasks::kv::KvAccess>,
    pub storage: Option<Storage>,
    pub dir: tempfile::TempDir,
    /// Inputs, as the executor puts them in the context.
    pub inputs: Value,
    /// Outputs of the task runs so far, as the executor would put them in the context.
    pub outputs: serde_json::Map<String, Value>,
}

impl Harness {
    /// A harness for `source` (a valid flow), with internal storage when `with_storage`.
    pub fn new(source: &str, with_storage: bool) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let storage = with_storage.then(|| Storage::local(dir.path().join("storage")).unwrap());
        let parsed = baton_core::parse::parse_flow(source);
        let flow = parsed
            .flow
            .unwrap_or_else(|| panic!("invalid flow: {:?}", parsed.diagnostics));
        Harness {
            flow,
            engine: Arc::new(TemplateEngine::new(RenderLimits::default())),
            host: Arc::new(NoHost),
            kv: Arc::new(baton_tasks::kv::NoKv),
            storage,
            dir,
            inputs: json!({}),
            outputs: serde_json::Map::new(),
        }
    }

    pub fn context(&self, task_id: &str, type_name: &str) -> Value {
        json!({
            "flow": {"id": self.flow.id, "namespace": self.flow.namespace},
            "execution": {"id": "exec1"},
            "task": {"id": task_id, "type": type_name},
            "taskrun": {"id": format!("run-{task_id}")},
            "inputs": self.inputs,
            "outputs": self.outputs,
        })
    }

    /// Runs a task to its end; a successful one's outputs are kept for the next tasks.
    pub async fn run(&mut self, task_id: &str) -> (TaskOutcome, Vec<TaskLog>) {
        self.run_with(task_id, &Cancel::new()).await
    }

    pub async fn run_with(
        &mut self,
        task_id: &str,
        cancel: &Cancel,
    ) -> (TaskOutcome, Vec<TaskLog>) {
        let task = self.flow.find_task(task_id).expect("task in the flow");
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let run = RunContext {
            engine: self.engine.clone(),
            host: self.host.clone(),
            context: self.context(task_id, &task.type_name),
            logs: LogSink::new(sender),
            work_root: self.dir.path().join("work"),
            storage: self.storage.clone(),
            kv: self.kv.clone(),
            duckdb: duckdb_binary(),
            // Connects on first use; tasks that need no container never do.
            docker: Arc::new(baton_tasks::DockerEngine::new(
                baton_tasks::DockerSettings::default(),
                baton_tasks::docker::Owner::this_process("tasks-test"),
            )),
        };
        let outcome = baton_tasks::run_task(task, &run, cancel).await;
        drop(run);
        let mut logs = Vec::new();
        while let Some(log) = receiver.recv().await {
            logs.push(log);
        }
        if outcome.state == TaskState::Success {
            self.outputs
                .insert(task_id.to_owned(), outcome.outputs.clone());
        }
        (outcome, logs)
    }

    /// Runs a task that must succeed, returning its outputs.
    pub async fn run_ok(&mut self, task_id: &str) -> Value {
        let (outcome, logs) = self.run(task_id).await;
        assert_eq!(
            outcome.state,
            TaskState::Success,
            "{task_id}: {outcome:?}\nlogs: {:?}",
            lines(&logs)
        );
        outcome.outputs
    }

    /// Runs a task that must fail, returning its error.
    pub async fn run_failed(&mut self, task_id: &str) -> (String, Vec<TaskLog>) {
        let (outcome, logs) = self.run(task_id).await;
        assert_eq!(outcome.state, TaskState::Failed, "{task_id}: {outcome:?}");
        (outcome.error.expect("a failed task says why"), logs)
    }

    /// Files in storage, relative to its root, sorted.
    pub fn stored_files(&self) -> Vec<String> {
        let root = self.dir.path().join("storage");
        let mut files: Vec<String> = walk(&root)
            .into_iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        files.sort();
        files
    }
}

/// The DuckDB CLI: `BATON_DUCKDB`, else the binary of the `duckdb_cli` Python package (PyPI's
/// `duckdb-cli`, which `./test.sh` installs), else `duckdb` on `PATH`.
pub fn duckdb_binary() -> PathBuf {
    if let Ok(path) = std::env::var("BATON_DUCKDB") {
        return PathBuf::from(path);
    }
    let script = "import duckdb_cli, os; print(os.path.join(os.path.dirname(duckdb_cli.__file__), 'duckdb'))";
    std::process::Command::new("python3")
        .args(["-c", script])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("duckdb"))
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

pub fn lines(logs: &[TaskLog]) -> Vec<&str> {
    logs.iter().map(|log| log.message.as_str()).collect()
}
