//! `baton server <role>`: long-running roles.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum ServerCommand {
    /// Everything in one process on an embedded SQLite store under ./.baton: API and workers'
    /// gRPC on one port, an executor and a worker. Nothing else to install.
    Local(LocalArgs),
    /// Everything in one process on Postgres.
    Standalone(ServerArgs),
    /// The executor (with the gRPC endpoint workers connect to), on Postgres.
    Executor(ServerArgs),
    /// The REST API, on Postgres.
    Webserver(ServerArgs),
    /// Run a worker: connect to an executor and run the task runs it pushes.
    Worker(WorkerArgs),
}

/// `baton migrate`: applies the store's migrations and exits. Every server also migrates at
/// start (one process applies them while the others wait); this is for doing it ahead of a
/// rollout.
#[derive(Args)]
pub struct MigrateArgs {
    /// Baton's Postgres, e.g. postgres://baton:secret@db:5432/baton.
    #[arg(
        long,
        env = "BATON_DATABASE_URL",
        hide_env_values = true,
        conflicts_with = "sqlite"
    )]
    database_url: Option<String>,
    /// An embedded SQLite store file instead (as `baton server local` uses).
    #[arg(long)]
    sqlite: Option<std::path::PathBuf>,
}

pub fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let store = match (args.database_url, args.sqlite) {
        (Some(url), None) => crate::node::StoreChoice::Postgres(url),
        (None, Some(path)) => crate::node::StoreChoice::Sqlite(path),
        _ => anyhow::bail!("give --database-url (or BATON_DATABASE_URL) or --sqlite PATH"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(crate::node::connect_store(&store))?;
    println!("migrations applied");
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct LocalArgs {
    /// Where the API (and the workers' gRPC) listens.
    #[arg(long, env = "BATON_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Where the SQLite store, task working directories and internal storage live.
    #[arg(long, env = "BATON_DATA_DIR", default_value = ".baton")]
    data_dir: std::path::PathBuf,
    /// Task runs the in-process worker runs at once (default: one per CPU).
    #[arg(long, env = "BATON_WORKER_SLOTS")]
    slots: Option<u32>,
    /// Internal storage: a directory for files of executions (default
    /// <data-dir>/storage).
    #[arg(long, env = "BATON_STORAGE")]
    storage: Option<String>,
    /// A folder of flow files (one flow per file) deployed at start and whenever they change.
    #[arg(long, env = "BATON_FLOWS_DIR", default_value = "flows")]
    flows_dir: std::path::PathBuf,
    /// Ask API clients for these credentials, as USER:PASSWORD (HTTP basic auth).
    #[arg(long, env = "BATON_BASIC_AUTH", hide_env_values = true)]
    basic_auth: Option<String>,
    /// Let script tasks on the Docker runner bind-mount host paths (`volumes`); off by default,
    /// as a mount gives a flow's author the worker host's files.
    #[arg(long, env = "BATON_DOCKER_VOLUMES_ENABLED")]
    docker_volumes_enabled: bool,
}

#[derive(Args)]
pub struct ServerArgs {
    /// Baton's Postgres, e.g. postgres://baton:secret@db:5432/baton.
    #[arg(long, env = "BATON_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Where the API and the workers' gRPC listen.
    #[arg(long, env = "BATON_LISTEN", default_value = "0.0.0.0:8080")]
    listen: std::net::SocketAddr,
    /// The token workers must present (standalone and executor).
    #[arg(
        long,
        env = "BATON_WORKER_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    token: String,
    /// Standalone only: task runs the in-process worker runs at once (default: one per CPU).
    #[arg(long, env = "BATON_WORKER_SLOTS")]
    slots: Option<u32>,
    /// Where task working directories (standalone) and, without --storage, internal storage
    /// (standalone and webserver) live.
    #[arg(long, env = "BATON_DATA_DIR", default_value = ".baton")]
    data_dir: std::path::PathBuf,
    /// Internal storage: a directory every process of the deployment shares (default
    /// <data-dir>/storage).
    #[arg(long, env = "BATON_STORAGE")]
    storage: Option<String>,
    /// Ask API clients for these credentials, as USER:PASSWORD (HTTP basic auth).
    #[arg(long, env = "BATON_BASIC_AUTH", hide_env_values = true)]
    basic_auth: Option<String>,
    /// Seconds an executor's claim on a queue message lasts unless renewed: how long its work
    /// waits before another executor takes it over when it dies.
    #[arg(long, env = "BATON_CLAIM_LEASE", default_value_t = 30.0)]
    claim_lease: f64,
    /// Seconds a worker's hold on a task run lasts without a heartbeat: how long a vanished
    /// worker's task runs wait before going to another worker.
    #[arg(long, env = "BATON_WORKER_LEASE", default_value_t = 30.0)]
    worker_lease: f64,
    /// Standalone only: let script tasks on the Docker runner bind-mount host paths (`volumes`).
    #[arg(long, env = "BATON_DOCKER_VOLUMES_ENABLED")]
    docker_volumes_enabled: bool,
}

#[derive(Args)]
pub struct WorkerArgs {
    /// The executor's gRPC address, e.g. http://executor:8081.
    #[arg(long, env = "BATON_EXECUTOR_URL")]
    executor: String,
    /// The shared worker token (prefer the environment variable to the flag).
    #[arg(long, env = "BATON_WORKER_TOKEN", hide_env_values = true)]
    token: String,
    /// How many task runs to run at once (default: one per CPU).
    #[arg(long, env = "BATON_WORKER_SLOTS")]
    slots: Option<u32>,
    /// Take only task runs of this worker group.
    #[arg(long, env = "BATON_WORKER_GROUP")]
    worker_group: Option<String>,
    /// The worker's id (default: hostname-pid-random).
    #[arg(long, env = "BATON_WORKER_ID")]
    worker_id: Option<String>,
    /// Internal storage: the directory the webserver and every worker share. Without it, tasks
    /// that use files (outputFiles, kestra:// inputFiles, read(), purge) fail.
    #[arg(long, env = "BATON_STORAGE")]
    storage: Option<String>,
    /// Seconds running task runs may take to finish on SIGTERM before they are handed back.
    #[arg(long, env = "BATON_WORKER_DRAIN_GRACE", default_value_t = 60.0)]
    drain_grace: f64,
    /// Let script tasks on the Docker runner bind-mount host paths (`volumes`); off by default,
    /// as a mount gives a flow's author the worker host's files.
    #[arg(long, env = "BATON_DOCKER_VOLUMES_ENABLED")]
    docker_volumes_enabled: bool,
    /// Where the worker's health endpoints listen (none unless set; the container image sets
    /// 0.0.0.0:8080, as for every role).
    #[arg(long, env = "BATON_LISTEN")]
    listen: Option<std::net::SocketAddr>,
}

pub fn run(command: ServerCommand) -> anyhow::Result<ExitCode> {
    let options = match command {
        ServerCommand::Worker(args) => return worker(args),
        ServerCommand::Local(args) => crate::node::NodeOptions {
            store: crate::node::StoreChoice::Sqlite(args.data_dir.join("baton.db")),
            listen: args.listen,
            executor: true,
            webserver: true,
            worker_slots: default_slots(args.slots),
            // Only the in-process worker connects, over loopback; a fresh token per start.
            token: uuid::Uuid::now_v7().simple().to_string(),
            work_dir: args.data_dir.join("work"),
            storage: Some(storage_location(args.storage, &args.data_dir)),
            flows_dir: args.flows_dir.is_dir().then_some(args.flows_dir),
            secrets: secrets(std::env::vars()),
            claim_lease: Duration::from_secs(30),
            worker_lease: Duration::from_secs(30),
            basic_auth: basic_auth(args.basic_auth.as_deref())?,
            docker: docker_settings(args.docker_volumes_enabled),
        },
        ServerCommand::Standalone(args) => server_options(args, true, true, true)?,
        ServerCommand::Executor(args) => server_options(args, true, false, false)?,
        ServerCommand::Webserver(args) => server_options(args, false, true, false)?,
    };
    node(options)
}

/// `USER:PASSWORD` into credentials; the user ends at the first colon.
fn basic_auth(value: Option<&str>) -> anyhow::Result<Option<baton_webserver::BasicAuth>> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let (username, password) = value
        .split_once(':')
        .context("--basic-auth must be USER:PASSWORD")?;
    anyhow::ensure!(
        !username.is_empty() && !password.is_empty(),
        "--basic-auth must be USER:PASSWORD, both non-empty"
    );
    Ok(Some(baton_webserver::BasicAuth {
        username: username.to_owned(),
        password: password.to_owned(),
    }))
}

/// `--storage`, or `<data-dir>/storage`.
fn storage_location(storage: Option<String>, data_dir: &std::path::Path) -> String {
    storage.unwrap_or_else(|| data_dir.join("storage").display().to_string())
}

/// One slot per CPU unless told otherwise.
fn default_slots(slots: Option<u32>) -> u32 {
    slots.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
    })
}

fn server_options(
    args: ServerArgs,
    executor: bool,
    webserver: bool,
    worker: bool,
) -> anyhow::Result<crate::node::NodeOptions> {
    anyhow::ensure!(
        !executor || !args.token.is_empty(),
        "set BATON_WORKER_TOKEN (or --token): workers authenticate with it"
    );
    let seconds = |value: f64, flag: &str| {
        Duration::try_from_secs_f64(value)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| format!("{flag} must be a positive number of seconds"))
    };
    Ok(crate::node::NodeOptions {
        store: crate::node::StoreChoice::Postgres(args.database_url),
        listen: args.listen,
        executor,
        webserver,
        worker_slots: if worker { default_slots(args.slots) } else { 0 },
        token: args.token,
        work_dir: args.data_dir.join("work"),
        // The executor alone stores no files; the API and workers do.
        storage: (webserver || worker).then(|| storage_location(args.storage, &args.data_dir)),
        flows_dir: None,
        secrets: secrets(std::env::vars()),
        basic_auth: basic_auth(args.basic_auth.as_deref())?,
        claim_lease: seconds(args.claim_lease, "--claim-lease")?,
        worker_lease: seconds(args.worker_lease, "--worker-lease")?,
        docker: docker_settings(args.docker_volumes_enabled),
    })
}

fn node(options: crate::node::NodeOptions) -> anyhow::Result<ExitCode> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        crate::node::run(options, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let mut options = baton_worker::WorkerOptions::new(args.executor, args.token);
    if let Some(slots) = args.slots {
        anyhow::ensure!(slots > 0, "--slots must be at least 1");
        options.slots = slots;
    }
    options.worker_group = args.worker_group;
    if let Some(id) = args.worker_id {
        options.worker_id = id;
    }
    options.drain_grace = Duration::try_from_secs_f64(args.drain_grace)
        .context("--drain-grace must be a non-negative number of seconds")?;
    options.secrets = secrets(std::env::vars());
    options.docker = docker_settings(args.docker_volumes_enabled);
    options.storage = args
        .storage
        .as_deref()
        .map(baton_storage::Storage::open)
        .transpose()
        .context("cannot open the internal storage")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        let draining = crate::health::Draining::default();
        let (stopped_tx, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut server = None;
        if let Some(listen) = args.listen {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            eprintln!("baton worker health on http://{}", listener.local_addr()?);
            let router = crate::health::router(
                crate::health::Readiness::Worker(options.status.clone()),
                &draining,
            );
            server = Some(tokio::spawn(baton_webserver::serve(
                listener,
                router,
                async move {
                    let _ = stopped.await;
                },
            )));
        }
        let shutdown = async move {
            shutdown.await;
            draining.start();
        };
        let result = baton_worker::run(options, shutdown).await;
        // The health port stays open while the worker drains, answering 503 to readiness.
        let _ = stopped_tx.send(());
        if let Some(server) = server {
            let _ = server.await;
        }
        result?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The engine is the one `DOCKER_HOST` names, else the local socket (bollard reads it).
fn docker_settings(volumes_enabled: bool) -> baton_worker::DockerSettings {
    baton_worker::DockerSettings {
        host: None,
        volumes_enabled,
    }
}

/// Kestra's convention: `SECRET_<NAME>` holds the base64 value of `secret('NAME')`.
fn secrets(vars: impl Iterator<Item = (String, String)>) -> HashMap<String, String> {
    vars.filter_map(|(key, value)| Some((key.strip_prefix("SECRET_")?.to_owned(), value)))
        .collect()
}

/// Completes on the first SIGTERM or SIGINT.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: draining"),
            _ = int.recv() => tracing::info!("SIGINT: draining"),
        }
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BATON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
