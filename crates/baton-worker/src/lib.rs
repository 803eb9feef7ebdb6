//! Baton's worker: a stateless process that holds one gRPC stream to an executor, runs the task
//! runs pushed to it (through `baton-tasks`) and reports their logs and results.
//!
//! Invariant: a worker holds no database credentials; it needs the executor's address and the
//! shared token, and everything else arrives on the stream. Files go to internal storage
//! (`baton-storage`), which the worker reaches directly, never through the database.

mod host;
mod kv;

pub use baton_tasks::DockerSettings;
pub use host::WorkerHost;
mod runs;
mod session;
mod status;

pub use status::WorkerStatus;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// The worker's configuration.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// The executor's gRPC address, e.g. `http://executor:8081`.
    pub executor_url: String,
    /// The shared secret, sent as `authorization: Bearer <token>`.
    pub token: String,
    /// Stable for the life of the process so a reconnect keeps the worker's leases.
    pub worker_id: String,
    /// How many task runs run at once.
    pub slots: u32,
    /// Take only task runs of this group; `None` is the default group.
    pub worker_group: Option<String>,
    /// On shutdown, how long running task runs may take to finish before they are killed and
    /// handed back.
    pub drain_grace: Duration,
    /// Values of `secret('NAME')`, base64-encoded as Kestra's `SECRET_NAME` variables hold them.
    pub secrets: HashMap<String, String>,
    /// Where each task run's working directory is created.
    pub work_dir: PathBuf,
    /// The Docker engine script tasks on the Docker runner use, and what they may do there.
    pub docker: baton_tasks::DockerSettings,
    /// Internal storage, shared with the webserver: `inputFiles` URIs, `outputFiles`,
    /// `read()`, purge. Without it those fail with a clear error; other tasks run.
    pub storage: Option<baton_storage::Storage>,
    /// The DuckDB CLI binary (PyPI's `duckdb-cli`) the DuckDB tasks run.
    pub duckdb: PathBuf,
    /// Updated by the worker as it connects and runs task runs; the caller keeps a clone for
    /// readiness and metrics.
    pub status: WorkerStatus,
}

impl WorkerOptions {
    /// Options with defaults: a generated worker id, one slot per CPU, 60 s of drain grace.
    pub fn new(executor_url: impl Into<String>, token: impl Into<String>) -> Self {
        WorkerOptions {
            executor_url: executor_url.into(),
            token: token.into(),
            worker_id: default_worker_id(),
            slots: std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(1)),
            worker_group: None,
            drain_grace: Duration::from_secs(60),
            secrets: HashMap::new(),
            work_dir: std::env::temp_dir().join("baton-worker"),
            docker: baton_tasks::DockerSettings::default(),
            storage: None,
            duckdb: PathBuf::from("duckdb"),
            status: WorkerStatus::default(),
        }
    }
}

/// `hostname-pid-random`: unique per process, readable in logs.
pub fn default_worker_id() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "worker".to_owned());
    let random = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &random[random.len() - 6..]
    )
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid executor url '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("the executor refused the worker's token: {0}")]
    Unauthenticated(String),
    #[error("the executor rejected the worker: {0}")]
    Rejected(String),
}

/// Runs the worker until `shutdown` completes and running task runs are drained (finished, or
/// killed and handed back after `drain_grace`). Reconnects with backoff when the stream breaks;
/// returns an error only when the executor refuses the worker.
pub async fn run(
    options: WorkerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    session::Worker::new(options)?.run(shutdown).await
}
