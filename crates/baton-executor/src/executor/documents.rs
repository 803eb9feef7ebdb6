//! The parsed documents of executions this executor stepped last, so that their next step
//! locks the row without reading the document back ([`ExecutionTx::lock_execution_unless`]):
//! on Postgres that read (a TOASTed JSONB of tens of KB, sent and parsed twice) was the
//! dearest part of a step after its commit.
//!
//! An entry is only a hint: a step takes it out, and uses it only if the locked row is still
//! at the entry's version (every write, by any process, bumps the version). A step that fails
//! leaves nothing behind, so the next one reads the row.
//!
//! [`ExecutionTx::lock_execution_unless`]: baton_store::ExecutionTx::lock_execution_unless

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use baton_core::execution::Execution;
use uuid::Uuid;

/// Enough for the executions one executor steps at a time; beyond it the oldest entries go
/// (their next step reads the row, as without the cache). Ended executions are never kept.
const CAPACITY: usize = 256;

#[derive(Default)]
pub(super) struct DocumentCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Uuid, (i64, Execution)>,
    /// Insertion order, for eviction; may name entries already taken or replaced.
    order: VecDeque<(Uuid, i64)>,
}

impl DocumentCache {
    /// Takes the document kept for `id`, with its version.
    pub(super) fn take(&self, id: Uuid) -> Option<(i64, Execution)> {
        self.lock().entries.remove(&id)
    }

    /// Keeps `execution` as of `version`, unless a newer version is kept already (a step that
    /// raced this one committed after it).
    pub(super) fn put(&self, id: Uuid, version: i64, execution: Execution) {
        if execution.state.is_terminal() {
            return;
        }
        let mut inner = self.lock();
        if inner
            .entries
            .get(&id)
            .is_some_and(|(kept, _)| *kept >= version)
        {
            return;
        }
        inner.entries.insert(id, (version, execution));
        inner.order.push_back((id, version));
        while inner.entries.len() > CAPACITY || inner.order.len() > 2 * CAPACITY {
            let Some((old, old_version)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .entries
                .get(&old)
                .is_some_and(|(v, _)| *v == old_version)
            {
                inner.entries.remove(&old);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::execution::State;
    use chrono::Utc;

    fn execution(state: State) -> Execution {
        let mut execution = Execution::new(Uuid::now_v7().to_string(), "n", "f", 1, Utc::now());
        execution.state = state;
        execution
    }

    #[test]
    fn keeps_the_newest_version_and_never_an_ended_execution() {
        let cache = DocumentCache::default();
        let id = Uuid::now_v7();
        cache.put(id, 3, execution(State::Running));
        cache.put(id, 2, execution(State::Running));
        assert_eq!(cache.take(id).map(|(v, _)| v), Some(3));
        assert!(cache.take(id).is_none(), "taken");
        cache.put(id, 4, execution(State::Success));
        assert!(cache.take(id).is_none(), "ended executions are not kept");
    }

    #[test]
    fn holds_at_most_its_capacity_dropping_the_oldest() {
        let cache = DocumentCache::default();
        let ids: Vec<Uuid> = (0..CAPACITY + 10).map(|_| Uuid::now_v7()).collect();
        for id in &ids {
            cache.put(*id, 2, execution(State::Running));
        }
        assert_eq!(cache.lock().entries.len(), CAPACITY);
        assert!(cache.take(ids[0]).is_none());
        assert!(cache.take(ids[CAPACITY + 9]).is_some());
    }
}
