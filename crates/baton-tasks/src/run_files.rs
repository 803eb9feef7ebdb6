//! Where a task run's files live: the worker's internal storage and the storage folder of the
//! run's execution, read from the template context (`flow`, `execution`, `task`, `taskrun`).

use baton_storage::{ExecutionFiles, Storage, StorageUri};
use serde_json::Value;

use crate::RunContext;

impl RunContext {
    /// Internal storage, or why this worker has none.
    pub fn storage(&self) -> Result<&Storage, String> {
        self.storage.as_ref().ok_or_else(|| {
            "this worker has no internal storage (start it with --storage or BATON_STORAGE)"
                .to_owned()
        })
    }

    /// The storage folder of the run's execution, from the template context.
    pub fn execution_files(&self) -> Result<ExecutionFiles, String> {
        let namespace = self.context_text("/flow/namespace")?;
        let flow_id = self.context_text("/flow/id")?;
        let execution_id = self.context_text("/execution/id")?;
        ExecutionFiles::new(namespace, flow_id, execution_id).map_err(|e| e.to_string())
    }

    /// The execution's files, the task id and the task run id.
    pub(crate) fn task_run_files(&self) -> Result<(ExecutionFiles, String, String), String> {
        Ok((
            self.execution_files()?,
            self.context_text("/task/id")?.to_owned(),
            self.context_text("/taskrun/id")?.to_owned(),
        ))
    }

    /// `text` as a URI this run may read: a file of its flow's namespace.
    pub fn readable_uri(&self, text: &str) -> Result<StorageUri, String> {
        let uri = StorageUri::parse(text).map_err(|e| e.to_string())?;
        let namespace = self.context_text("/flow/namespace")?;
        let folder = StorageUri::from_segments(namespace.split('.'))
            .map_err(|e| format!("namespace {namespace}: {e}"))?;
        if !uri.is_within(&folder) {
            return Err(format!(
                "{uri} is not a file of namespace {namespace}, so a flow of that namespace cannot \
                 read it"
            ));
        }
        Ok(uri)
    }

    fn context_text(&self, pointer: &str) -> Result<&str, String> {
        self.context
            .pointer(pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the task run's context has no {pointer}"))
    }
}
