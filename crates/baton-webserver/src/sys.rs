//! `/api/v1/sys`: administration. `POST /sys/purge` deletes ended executions (rows, logs, queue
//! messages, internal-storage files) or only old logs; `baton sys purge` calls it, and the
//! retention job calls [`purge`] directly.
//!
//! Query parameters: `endedBefore` (RFC 3339 or `YYYY-MM-DD`, required), `namespace` (and the
//! namespaces under it), `flowId`, `state` (repeatable; terminal states only), `logsOnly=true`
//! (keep executions, delete log lines written before the date), `dryRun=true` (count only).
//! The answer: `{"dryRun", "executions", "logs", "files"}`, what was (or would be) deleted;
//! a dry run does not list files, so `files` is 0.

use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Json, Router};
use baton_storage::{ExecutionFiles, Storage};
use baton_store::{LogPurgeFilter, PurgeFilter, Store};
use serde::Serialize;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::executions::{date, states};
use crate::query::Params;

/// Rows per purge transaction: small enough that a batch holds locks (and SQLite's write lock)
/// for milliseconds, large enough that millions of rows take few round trips.
pub const PURGE_BATCH: u32 = 500;

pub fn routes() -> Router<ApiState> {
    Router::new().route("/sys/purge", post(purge_route))
}

/// What a purge deletes.
#[derive(Debug, Clone)]
pub enum Purge {
    /// Ended executions with their logs, messages and files.
    Executions(PurgeFilter),
    /// Log lines only; executions stay.
    Logs(LogPurgeFilter),
}

/// What a purge deleted, or would delete on a dry run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgeReport {
    pub dry_run: bool,
    pub executions: u64,
    pub logs: u64,
    pub files: u64,
}

/// Runs a purge to the end, batch after batch, deleting each batch's files after its rows are
/// gone (a file left behind by a crash in between is only wasted space; a row whose files are
/// gone would be a broken execution). A file that cannot be deleted is logged and skipped.
pub async fn purge(
    store: &dyn Store,
    storage: Option<&Storage>,
    what: &Purge,
    dry_run: bool,
) -> Result<PurgeReport, baton_store::Error> {
    let mut report = PurgeReport {
        dry_run,
        ..PurgeReport::default()
    };
    match what {
        Purge::Executions(filter) if dry_run => {
            report.executions = store.count_purgeable_executions(filter).await?;
        }
        Purge::Logs(filter) if dry_run => {
            report.logs = store.count_purgeable_logs(filter).await?;
        }
        Purge::Executions(filter) => loop {
            let batch = store.purge_executions(filter, PURGE_BATCH).await?;
            report.executions += batch.executions.len() as u64;
            report.logs += batch.logs;
            if let Some(storage) = storage {
                for execution in &batch.executions {
                    report.files += delete_files(storage, execution).await;
                }
            }
            if batch.executions.len() < PURGE_BATCH as usize {
                break;
            }
        },
        Purge::Logs(filter) => loop {
            let deleted = store.purge_logs(filter, PURGE_BATCH).await?;
            report.logs += deleted;
            if deleted < u64::from(PURGE_BATCH) {
                break;
            }
        },
    }
    Ok(report)
}

/// Deletes a purged execution's folder in internal storage; returns how many files it held.
async fn delete_files(storage: &Storage, execution: &baton_store::PurgedExecution) -> u64 {
    let id = execution.id.to_string();
    let deleted = match ExecutionFiles::new(&execution.namespace, &execution.flow_id, &id) {
        Ok(files) => storage.delete_prefix(files.folder()).await,
        Err(error) => Err(error),
    };
    match deleted {
        Ok(files) => files.len() as u64,
        Err(error) => {
            tracing::warn!(%error, execution = %id, "cannot delete a purged execution's files");
            0
        }
    }
}

async fn purge_route(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Json<PurgeReport>> {
    let params = Params(query);
    let before = date(&params, "endedBefore")?
        .ok_or_else(|| ApiError::BadRequest("query parameter endedBefore is required".into()))?;
    let namespace = params.get("namespace").map(str::to_owned);
    let flow_id = params.get("flowId").map(str::to_owned);
    let states = states(&params)?;
    if let Some(state) = states.iter().find(|state| !state.is_terminal()) {
        return Err(ApiError::BadRequest(format!(
            "query parameter state={state}: only ended executions are purged"
        )));
    }
    let what = if params.parse::<bool>("logsOnly")?.unwrap_or(false) {
        if !states.is_empty() {
            return Err(ApiError::BadRequest(
                "query parameter state does not apply to logsOnly".into(),
            ));
        }
        Purge::Logs(LogPurgeFilter {
            before,
            namespace,
            flow_id,
        })
    } else {
        Purge::Executions(PurgeFilter {
            ended_before: before,
            namespace,
            flow_id,
            states,
        })
    };
    let dry_run = params.parse::<bool>("dryRun")?.unwrap_or(false);
    let report = purge(state.store.as_ref(), state.storage.as_ref(), &what, dry_run).await?;
    tracing::info!(?what, ?report, "purge");
    Ok(Json(report))
}
