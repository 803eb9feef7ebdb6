//! A Baton node: the roles a `baton server …` command runs, wired in one process.
//!
//! The API and the workers' gRPC share one port: the REST routes, the public gRPC API and the
//! worker hub's gRPC service are routed on one axum router, so `local` and `standalone` need a
//! single port, and in-process workers reach the hub over loopback like any remote worker
//! would. Health and reflection are served once per port, for every gRPC service on it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use baton_executor::executor::{ExecutorOptions, ExecutorState};
use baton_executor::hub::{HubOptions, WorkerHub};
use baton_store::{PgStore, PgStoreOptions, SqliteStore, SqliteStoreOptions, Store};
use baton_webserver::route_grpc;
use tokio::net::TcpListener;

/// The gRPC path prefix of the worker service.
const WORKER_SERVICE: &str = <baton_proto::v1::worker_service_server::WorkerServiceServer<()> as tonic::server::NamedService>::NAME;

/// gRPC health (`grpc.health.v1`) and reflection, so `grpcurl` and load balancers can talk to
/// the node's port; each service in `serving` is reported SERVING.
async fn route_grpc_tools(router: axum::Router, serving: &[&str]) -> anyhow::Result<axum::Router> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for service in serving {
        reporter
            .set_service_status(*service, tonic_health::ServingStatus::Serving)
            .await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(baton_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build the gRPC reflection service")?;
    Ok(route_grpc(route_grpc(router, health), reflection))
}

/// Where the node keeps its state.
#[derive(Clone, Debug)]
pub enum StoreChoice {
    /// Embedded: one file, for `baton server local`.
    Sqlite(PathBuf),
    /// Shared by every process of a deployment.
    Postgres(String),
}

#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub store: StoreChoice,
    pub listen: SocketAddr,
    pub executor: bool,
    pub webserver: bool,
    /// Fire Schedule triggers and backfills (any number of schedulers may share a store).
    pub scheduler: bool,
    /// In-process workers' slots; 0 runs no worker in this process.
    pub worker_slots: u32,
    /// The token workers present to the hub.
    pub token: String,
    /// Where in-process workers create task working directories.
    pub work_dir: PathBuf,
    /// Internal storage (a directory) for the API's file routes and in-process workers.
    pub storage: Option<String>,
    /// A folder of flow files to deploy at start and keep deployed as they change.
    pub flows_dir: Option<PathBuf>,
    /// `secret('NAME')` values, base64 as in `SECRET_NAME` variables.
    pub secrets: std::collections::HashMap<String, String>,
    /// When set, the API asks for these credentials (HTTP basic auth); workers keep their token.
    pub basic_auth: Option<baton_webserver::BasicAuth>,
    /// How long an executor's claim on a queue message lasts unless renewed.
    pub claim_lease: Duration,
    /// How long a worker's hold on a task run lasts without a heartbeat.
    pub worker_lease: Duration,
    /// In-process workers' Docker engine settings.
    pub docker: baton_worker::DockerSettings,
    /// In-process workers' DuckDB CLI binary.
    pub duckdb: PathBuf,
    /// The retention job, run by executor nodes when an age is set.
    pub retention: crate::retention::RetentionOptions,
}

pub async fn connect_store(choice: &StoreChoice) -> anyhow::Result<Arc<dyn Store>> {
    Ok(connect(choice).await?.0)
}

/// The store, and on Postgres the concrete store too (its pool's gauges).
async fn connect(choice: &StoreChoice) -> anyhow::Result<(Arc<dyn Store>, Option<PgStore>)> {
    Ok(match choice {
        StoreChoice::Sqlite(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let store = SqliteStore::connect(SqliteStoreOptions::new(path))
                .await
                .with_context(|| format!("cannot open the SQLite store {}", path.display()))?;
            store
                .migrate()
                .await
                .context("cannot apply the SQLite migrations")?;
            (Arc::new(store), None)
        }
        StoreChoice::Postgres(url) => {
            let store = PgStore::connect(PgStoreOptions::from_url(url)?);
            store
                .migrate()
                .await
                .context("cannot reach Postgres or apply its migrations")?;
            (Arc::new(store.clone()), Some(store))
        }
    })
}

/// Runs the node until `shutdown` resolves.
pub async fn run(
    options: NodeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (store, pool) = connect(&options.store).await?;
    let metrics = crate::metrics::install()?;
    crate::metrics::watch_store(store.clone(), pool, options.executor);
    let storage = options
        .storage
        .as_deref()
        .map(baton_storage::Storage::open)
        .transpose()
        .context("cannot open the internal storage")?;
    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let address = listener.local_addr()?;

    // The hub exists in every node: the webserver needs an executor state to create
    // executions, and only an executor node serves the hub to workers.
    let lease = options.worker_lease;
    let (hub, hub_events) = WorkerHub::new(HubOptions {
        token: options.token.clone(),
        lease,
        // Several heartbeats per lease, so one lost beat does not cost the lease.
        heartbeat: lease / 6,
    });
    // Executor-side templates (If conditions, ForEach values) see the same secrets as workers.
    let host = Arc::new(
        baton_worker::WorkerHost::new(options.secrets.clone()).with_storage(storage.clone()),
    );
    let executor = Arc::new(ExecutorState::new(
        store.clone(),
        hub.clone(),
        host,
        ExecutorOptions {
            lease: options.claim_lease,
            ..ExecutorOptions::default()
        },
    ));

    if let Some(dir) = options.flows_dir.clone() {
        let mut folder = crate::flows_dir::FlowsDir::new(store.clone(), dir.clone());
        let deployed = folder.scan().await;
        eprintln!("deployed {deployed} flow(s) from {}", dir.display());
        tokio::spawn(folder.watch());
    }

    let draining = crate::health::Draining::default();
    let mut router =
        crate::health::router(crate::health::Readiness::Store(store.clone()), &draining)
            .merge(crate::metrics::router(metrics));
    let mut serving = Vec::new();
    if options.webserver {
        let api_options = baton_webserver::ApiOptions {
            basic_auth: options.basic_auth.clone(),
            ..Default::default()
        };
        let mut api = baton_webserver::ApiState::new(store.clone(), executor.clone())
            .with_options(api_options);
        api.storage = storage.clone();
        router = router.merge(baton_webserver::router(api.clone()));
        router = baton_webserver::grpc::route_public_api(router, api);
        serving.extend(baton_webserver::grpc::SERVICES);
    }
    if options.executor {
        router = route_grpc(router, hub.service());
        serving.push(WORKER_SERVICE);
        let runner = executor.clone();
        tokio::spawn(async move {
            if let Err(error) =
                baton_executor::executor::run(runner, hub_events, std::future::pending()).await
            {
                tracing::error!(%error, "the executor stopped");
            }
        });
    }
    if options.executor && options.retention.enabled() {
        tokio::spawn(crate::retention::run(
            store.clone(),
            options.retention.clone(),
        ));
    }
    if options.scheduler {
        let (reports, fired) = tokio::sync::mpsc::unbounded_channel();
        let scheduler = baton_scheduler::Scheduler::new(
            executor.clone(),
            Arc::new(baton_scheduler::SystemClock::default()),
            baton_scheduler::SchedulerOptions::default(),
        )
        .with_reports(reports);
        tokio::spawn(crate::metrics::record_fires(fired));
        tokio::spawn(async move {
            if let Err(error) = scheduler.run(std::future::pending()).await {
                tracing::error!(%error, "the scheduler stopped");
            }
        });
    }
    router = route_grpc_tools(router, &serving).await?;
    // On shutdown, in-process workers drain first (they report over the still-open port), then
    // the server stops.
    let (stop_workers, worker_shutdown) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    if options.executor && options.worker_slots > 0 {
        let mut worker =
            baton_worker::WorkerOptions::new(format!("http://{address}"), options.token.clone());
        worker.slots = options.worker_slots;
        worker.work_dir = options.work_dir.clone();
        worker.drain_grace = Duration::from_secs(10);
        worker.secrets = options.secrets.clone();
        worker.docker = options.docker.clone();
        worker.duckdb = options.duckdb.clone();
        worker.storage = storage.clone();
        let mut stopped = worker_shutdown.clone();
        workers.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Err(error) = baton_worker::run(worker, shutdown).await {
                tracing::error!(%error, "the in-process worker stopped");
            }
        }));
    }
    tracing::info!(%address, executor = options.executor, webserver = options.webserver, scheduler = options.scheduler, "baton is up");
    eprintln!("baton is listening on http://{address}");
    baton_webserver::serve(listener, router, async move {
        shutdown.await;
        draining.start();
        tracing::info!("shutting down: draining in-process workers");
        let _ = stop_workers.send(true);
        for worker in workers {
            let _ = worker.await;
        }
    })
    .await
    .context("the HTTP server failed")?;
    Ok(())
}
