//! Retention: purging ended executions (with everything that hangs off them) and old logs.
//!
//! Both purges work in bounded batches, one transaction each, so deleting millions of rows never
//! holds one giant transaction (nor, on SQLite, the write lock for long). The caller loops until
//! a batch comes back short, and deletes the purged executions' internal-storage files between
//! batches: the store does not know about storage.

use async_trait::async_trait;
use baton_core::execution::State as ExecutionState;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Result;

/// Which ended executions a purge deletes. Running, queued, paused (any non-terminal)
/// executions never match, whatever the filter says.
#[derive(Debug, Clone)]
pub struct PurgeFilter {
    /// Only executions that ended strictly before this instant.
    pub ended_before: DateTime<Utc>,
    /// This namespace and those under it (`company` matches `company.team`).
    pub namespace: Option<String>,
    pub flow_id: Option<String>,
    /// Only these states; empty means every terminal state. Non-terminal ones are ignored.
    pub states: Vec<ExecutionState>,
}

impl PurgeFilter {
    pub fn ended_before(ended_before: DateTime<Utc>) -> Self {
        Self {
            ended_before,
            namespace: None,
            flow_id: None,
            states: Vec::new(),
        }
    }

    /// The terminal states the filter allows, as the store writes them; empty when the filter
    /// names only non-terminal states (then nothing matches).
    pub(crate) fn terminal_states(&self) -> Vec<&'static str> {
        let wanted = |state: &ExecutionState| self.states.is_empty() || self.states.contains(state);
        ExecutionState::ALL
            .iter()
            .filter(|state| state.is_terminal() && wanted(state))
            .map(|state| state.as_str())
            .collect()
    }
}

/// Which log lines a logs-only purge deletes (Kestra's `PurgeLogs`); executions stay.
#[derive(Debug, Clone)]
pub struct LogPurgeFilter {
    /// Only lines written strictly before this instant.
    pub before: DateTime<Utc>,
    /// Lines of executions in this namespace and those under it.
    pub namespace: Option<String>,
    pub flow_id: Option<String>,
}

/// An execution a purge deleted: enough to find its internal-storage folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedExecution {
    pub id: Uuid,
    pub namespace: String,
    pub flow_id: String,
}

/// What one batch of an execution purge deleted.
#[derive(Debug, Clone, Default)]
pub struct PurgeBatch {
    pub executions: Vec<PurgedExecution>,
    pub logs: u64,
    pub queue_messages: u64,
}

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes up to `limit` executions matching `filter`, oldest end first, with their logs,
    /// queue messages and concurrency slot rows, in one transaction; trigger and backfill rows
    /// that named them as their last execution forget it. Several purges may run at once: each
    /// takes executions the others do not. Fewer than `limit` back means nothing is left.
    async fn purge_executions(&self, filter: &PurgeFilter, limit: u32) -> Result<PurgeBatch>;

    /// How many executions [`RetentionStore::purge_executions`] would delete in all (a dry run).
    async fn count_purgeable_executions(&self, filter: &PurgeFilter) -> Result<u64>;

    /// Deletes up to `limit` log lines matching `filter`; returns how many.
    async fn purge_logs(&self, filter: &LogPurgeFilter, limit: u32) -> Result<u64>;

    /// How many lines [`RetentionStore::purge_logs`] would delete in all (a dry run).
    async fn count_purgeable_logs(&self, filter: &LogPurgeFilter) -> Result<u64>;
}
