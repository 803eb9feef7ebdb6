//! `storage.purge_current_execution_files` (`io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles`):
//! deletes every internal-storage file of the current execution (its FILE inputs and every
//! task's output files), giving the deleted URIs as `outputs.uris`.

use baton_core::flow::task::LogLevel;
use serde_json::{Value, json};

use crate::{RunContext, TaskOutcome};

pub(crate) async fn run(run: &RunContext) -> TaskOutcome {
    match purge(run).await {
        Ok(uris) => {
            run.logs.log(
                LogLevel::Info,
                format!("deleted {} file(s) of the execution", uris.len()),
            );
            TaskOutcome::success(json!({ "uris": uris }))
        }
        Err(error) => TaskOutcome::failed(error),
    }
}

async fn purge(run: &RunContext) -> Result<Vec<Value>, String> {
    let storage = run.storage()?;
    let execution = run.execution_files()?;
    let deleted = storage
        .delete_prefix(execution.folder())
        .await
        .map_err(|e| e.to_string())?;
    Ok(deleted
        .into_iter()
        .map(|uri| Value::String(uri.to_string()))
        .collect())
}
