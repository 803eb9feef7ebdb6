//! The worker hub: the executor's end of the gRPC stream that workers hold open.
//!
//! The executor hands the hub [`Assignment`]s; the hub queues them (FIFO), pushes each to a
//! connected worker of the right group with a free slot, and reports what happens to them as
//! [`HubEvent`]s. Every assignment carries a lease that the worker's heartbeats renew; when the
//! heartbeats stop (the worker died, or its stream broke and it did not come back in time), the
//! lease runs out and the hub emits [`HubEvent::LeaseExpired`].
//!
//! The hub never retries by itself: dispatching attempt + 1 after a lost lease, and not doing so
//! for an execution that has already ended, is the executor's decision.

mod kv;
mod service;
mod state;

use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use baton_proto::v1::worker_service_server::{WorkerService, WorkerServiceServer};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

pub use baton_core::flow::task::LogLevel;

use state::State;

/// The hub's configuration.
#[derive(Clone, Debug)]
pub struct HubOptions {
    /// The shared secret workers present as `authorization: Bearer <token>`.
    pub token: String,
    /// How long an assignment stays leased without a heartbeat naming it. After a worker's
    /// stream breaks, its leases get this long again to let it reconnect.
    pub lease: Duration,
    /// How often workers are told to send heartbeats; well under `lease`.
    pub heartbeat: Duration,
}

/// A cheap, cloneable handle on the hub.
#[derive(Clone)]
pub struct WorkerHub {
    inner: Arc<Inner>,
}

struct Inner {
    options: HubOptions,
    state: Mutex<State>,
    /// Where workers' KV calls are answered from; set once by the executor.
    kv: OnceLock<Arc<dyn baton_store::KvStore>>,
}

/// A flow revision, as workers need it to find and render the task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSource {
    pub namespace: String,
    pub id: String,
    pub revision: u32,
    /// The flow's YAML. Sent to each worker connection once per revision.
    pub source: Arc<str>,
}

/// One attempt of one task run, to be run by a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub execution_id: String,
    pub task_run_id: String,
    pub attempt: u32,
    pub flow: FlowSource,
    pub task_id: String,
    /// The template context: inputs, outputs of earlier tasks, vars, execution, taskrun…
    pub context: serde_json::Value,
    /// Only workers of this group take it; `None` is the default group.
    pub worker_group: Option<String>,
}

/// A connected worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    pub id: String,
    pub group: Option<String>,
    pub slots: u32,
    /// Task runs leased to it now.
    pub busy: u32,
    pub connected_at: DateTime<Utc>,
}

/// How an attempt ended on the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    Success,
    Warning,
    Failed,
    Killed,
}

/// One log line of a task run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub task_run_id: String,
    pub attempt: u32,
    pub level: LogLevel,
    pub timestamp: DateTime<Utc>,
    pub message: String,
}

/// The end of one attempt, as the worker reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskResult {
    pub task_run_id: String,
    pub attempt: u32,
    /// The worker that ran it; empty when the hub ended it itself (killed while queued).
    pub worker_id: String,
    pub state: TaskState,
    /// A JSON object.
    pub outputs: serde_json::Value,
    pub error_message: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

/// What the hub tells the executor.
#[derive(Clone, Debug, PartialEq)]
pub enum HubEvent {
    /// The assignment was pushed to a worker.
    Started {
        task_run_id: String,
        attempt: u32,
        worker_id: String,
    },
    Logs(Vec<LogLine>),
    Finished(TaskResult),
    /// The worker holding the task run stopped renewing its lease; the attempt is lost.
    LeaseExpired {
        task_run_id: String,
        attempt: u32,
        worker_id: String,
    },
    /// The worker gave the task run back unfinished (it is shutting down).
    HandedBack {
        task_run_id: String,
        attempt: u32,
    },
    WorkerJoined(WorkerInfo),
    WorkerLeft {
        worker_id: String,
    },
}

/// How many events may wait for the executor before the hub's internal queue holds them.
const EVENT_CAPACITY: usize = 1024;

impl WorkerHub {
    /// Builds the hub and the stream of its events. Must be called inside a tokio runtime: it
    /// starts the task that expires leases, which stops when the last handle is dropped.
    pub fn new(options: HubOptions) -> (WorkerHub, mpsc::Receiver<HubEvent>) {
        // Events are queued in order under the state lock (unbounded, so the lock is never held
        // across an await) and forwarded to the bounded channel the executor reads.
        let (internal_tx, mut internal_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        tokio::spawn(async move {
            while let Some(event) = internal_rx.recv().await {
                if events_tx.send(event).await.is_err() {
                    break;
                }
            }
        });
        let inner = Arc::new(Inner {
            state: Mutex::new(State::new(internal_tx, options.lease)),
            options,
            kv: OnceLock::new(),
        });
        tokio::spawn(expire_leases(Arc::downgrade(&inner)));
        (WorkerHub { inner }, events_rx)
    }

    /// The gRPC service workers connect to; the caller mounts it on its server. Enable
    /// TCP_NODELAY on that server (`Server::tcp_nodelay(true)`, or `TcpIncoming::with_nodelay`
    /// for a listener of your own): without it every small frame waits for a delayed ACK,
    /// about 40 ms per task run instead of under 1 ms.
    pub fn service(&self) -> WorkerServiceServer<impl WorkerService> {
        WorkerServiceServer::new(service::HubService::new(self.clone()))
    }

    /// Queues the assignment for a worker of the right group with a free slot (FIFO; waits for
    /// capacity without blocking the caller).
    pub fn assign(&self, assignment: Assignment) {
        let mut state = self.lock();
        state.enqueue(assignment);
        state.dispatch();
    }

    /// Stops a task run: a queued one ends KILLED at once; a running one is killed on its
    /// worker, which reports it KILLED.
    pub fn kill(&self, task_run_id: &str) {
        let mut state = self.lock();
        state.kill(task_run_id);
    }

    /// Answers workers' KV calls (`kv.*` tasks, `kv()` in their templates) from `store`.
    /// The first call wins; without one, KV calls fail with a clear error.
    pub fn serve_kv(&self, store: Arc<dyn baton_store::KvStore>) {
        let _ = self.inner.kv.set(store);
    }

    fn kv(&self) -> Option<Arc<dyn baton_store::KvStore>> {
        self.inner.kv.get().cloned()
    }

    /// The workers connected now.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        self.lock().workers()
    }

    pub(crate) fn options(&self) -> &HubOptions {
        &self.inner.options
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ticks while any handle on the hub lives, ending leases that ran out and dropping
/// connections that went silent.
async fn expire_leases(inner: Weak<Inner>) {
    let tick = {
        let Some(inner) = inner.upgrade() else { return };
        (inner.options.lease / 20).clamp(Duration::from_millis(10), Duration::from_millis(500))
    };
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.expire(tokio::time::Instant::now());
    }
}
