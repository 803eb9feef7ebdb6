//! Backend-independent checks: each takes an `Arc<dyn Store>` on a fresh, migrated database.

pub mod concurrency;
pub mod executions;
pub mod flows;
pub mod logs_kv;
pub mod queue;

use std::time::Duration;

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
