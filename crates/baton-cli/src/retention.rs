//! The retention job: every `interval`, purges ended executions older than
//! `retention.executions` (rows, logs, files) and log lines older than `retention.logs`.
//!
//! It runs in every process with a store and an executor (`local`, `standalone`, `executor`).
//! Several may run at once: execution batches are taken with `FOR UPDATE SKIP LOCKED` (each
//! process deletes different executions) and deleting a log line twice deletes it once, so no
//! coordination is needed.

use std::sync::Arc;
use std::time::Duration;

use baton_store::{LogPurgeFilter, PurgeFilter, Store};
use baton_webserver::sys::{Purge, purge};
use chrono::Utc;

#[derive(Clone, Debug)]
pub struct RetentionOptions {
    pub executions: Option<Duration>,
    pub logs: Option<Duration>,
    pub interval: Duration,
    /// The internal storage whose execution folders go with their executions.
    pub storage: Option<String>,
}

impl RetentionOptions {
    pub fn enabled(&self) -> bool {
        self.executions.is_some() || self.logs.is_some()
    }
}

/// Runs forever: one pass now, then one every `interval`. A failed pass is logged and retried
/// at the next tick.
pub async fn run(store: Arc<dyn Store>, options: RetentionOptions) {
    let storage = match options.storage.as_deref().map(baton_storage::Storage::open) {
        Some(Ok(storage)) => Some(storage),
        Some(Err(error)) => {
            tracing::warn!(%error, "retention: cannot open the internal storage; files stay");
            None
        }
        None => None,
    };
    let mut ticks = tokio::time::interval(options.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for what in purges(&options) {
            match purge(store.as_ref(), storage.as_ref(), &what, false).await {
                Ok(report) if report.executions > 0 || report.logs > 0 => {
                    tracing::info!(
                        executions = report.executions,
                        logs = report.logs,
                        files = report.files,
                        "retention: purged"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "retention: the purge failed"),
            }
        }
    }
}

/// This pass's purges, their dates counted back from now.
fn purges(options: &RetentionOptions) -> Vec<Purge> {
    let before = |age: Duration| Utc::now() - chrono::Duration::from_std(age).unwrap_or_default();
    let mut purges = Vec::new();
    if let Some(age) = options.executions {
        purges.push(Purge::Executions(PurgeFilter::ended_before(before(age))));
    }
    if let Some(age) = options.logs {
        purges.push(Purge::Logs(LogPurgeFilter {
            before: before(age),
            namespace: None,
            flow_id: None,
        }));
    }
    purges
}
