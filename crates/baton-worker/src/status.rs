//! What a running worker says about itself to the process around it: whether it holds a stream
//! to an executor (readiness) and how many slots are busy (metrics).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// A cheap handle the worker updates and health endpoints or metrics read.
#[derive(Clone, Debug, Default)]
pub struct WorkerStatus {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    connected: AtomicBool,
    busy: AtomicU32,
}

impl WorkerStatus {
    /// Whether the worker holds a stream an executor welcomed it on.
    pub fn connected(&self) -> bool {
        self.inner.connected.load(Ordering::Relaxed)
    }

    /// Task runs running now (one slot each).
    pub fn busy_slots(&self) -> u32 {
        self.inner.busy.load(Ordering::Relaxed)
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.inner.connected.store(connected, Ordering::Relaxed);
        metrics::gauge!("baton_worker_connected").set(if connected { 1.0 } else { 0.0 });
    }

    pub(crate) fn set_busy(&self, busy: usize) {
        let busy = u32::try_from(busy).unwrap_or(u32::MAX);
        self.inner.busy.store(busy, Ordering::Relaxed);
        metrics::gauge!("baton_worker_slots_busy").set(f64::from(busy));
    }
}
