//! Backend-independent checks: each takes an `Arc<dyn Store>` on a fresh, migrated database.

pub mod backfills;
pub mod concurrency;
pub mod executions;
pub mod flows;
pub mod logs_kv;
pub mod queue;
pub mod retention;
pub mod schedule_fires;
pub mod triggers;

use std::sync::Arc;
use std::time::Duration;

use baton_store::{FlowTriggers, Store, TriggerSync};

/// Syncs one flow's trigger rows; true if this call synced it.
pub trait SyncFlow {
    async fn sync_flow(
        &self,
        namespace: &str,
        flow_id: &str,
        revision: i32,
        triggers: &[TriggerSync],
    ) -> baton_store::Result<bool>;
}

impl SyncFlow for Arc<dyn Store> {
    async fn sync_flow(
        &self,
        namespace: &str,
        flow_id: &str,
        revision: i32,
        triggers: &[TriggerSync],
    ) -> baton_store::Result<bool> {
        let flow = FlowTriggers {
            namespace: namespace.to_owned(),
            flow_id: flow_id.to_owned(),
            revision,
            triggers: triggers.to_vec(),
        };
        Ok(self.sync_triggers(&[flow]).await? == 1)
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
