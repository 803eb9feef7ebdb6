//! `baton server <role>`: long-running roles.

use std::collections::HashMap;
use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::config::{self, Role};

mod roles;

use roles::{node, node_options, secrets, worker};

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
    /// Fires Schedule triggers and backfills, on Postgres. Run as many as you like: each fire
    /// date still creates one execution.
    Scheduler(ServerArgs),
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

/// Flags every role takes: the configuration file, dumping it, logging.
#[derive(Args)]
pub struct ConfigArgs {
    /// The configuration file (default: ./baton.yaml when it exists) [env: BATON_CONFIG].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective configuration (defaults < file < BATON_* variables < flags) as
    /// YAML, secrets redacted, and exit.
    #[arg(long)]
    dump_config: bool,
    /// A log filter: a level (info) or directives (info,baton_executor=debug) [env: BATON_LOG].
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// text or json [env: BATON_LOG_FORMAT].
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Export traces to this OTLP/gRPC collector, e.g. http://otel-collector:4317
    /// [env: OTEL_EXPORTER_OTLP_ENDPOINT].
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// The service.name of exported spans (default baton-ROLE) [env: OTEL_SERVICE_NAME].
    #[arg(long, value_name = "NAME")]
    service_name: Option<String>,
}

/// The retention job's flags, on every role that runs it.
#[derive(Args)]
pub struct RetentionArgs {
    /// Delete ended executions (with their logs and files) older than this, e.g. 30d; off by
    /// default [env: BATON_RETENTION_EXECUTIONS].
    #[arg(long, value_name = "AGE")]
    retention_executions: Option<String>,
    /// Delete log lines older than this, e.g. 7d; off by default [env: BATON_RETENTION_LOGS].
    #[arg(long, value_name = "AGE")]
    retention_logs: Option<String>,
    /// Seconds between two runs of the retention job (default 3600)
    /// [env: BATON_RETENTION_INTERVAL].
    #[arg(long, value_name = "SECONDS")]
    retention_interval: Option<String>,
}

impl RetentionArgs {
    fn add_to(&self, flags: &mut Flags) {
        flags
            .add("retention-executions", &self.retention_executions)
            .add("retention-logs", &self.retention_logs)
            .add("retention-interval", &self.retention_interval);
    }
}

#[derive(Args)]
pub struct LocalArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Where the API (and the workers' gRPC) listens (default 127.0.0.1:8080) [env: BATON_LISTEN].
    #[arg(long, value_name = "ADDRESS")]
    listen: Option<String>,
    /// Listen on this port of 127.0.0.1: short for `--listen 127.0.0.1:PORT`.
    #[arg(long, value_name = "PORT", conflicts_with = "listen")]
    port: Option<u16>,
    /// Where the SQLite store and task working directories live (default .baton)
    /// [env: BATON_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// Task runs the in-process worker runs at once (default: one per CPU)
    /// [env: BATON_WORKER_SLOTS].
    #[arg(long, value_name = "N")]
    slots: Option<String>,
    /// Internal storage: a directory for files of executions (default <data-dir>/storage)
    /// [env: BATON_STORAGE].
    #[arg(long, value_name = "DIR")]
    storage: Option<String>,
    /// A folder of flow files (one flow per file) deployed at start and whenever they change
    /// (default flows) [env: BATON_FLOWS_DIR].
    #[arg(long, value_name = "DIR")]
    flows_dir: Option<String>,
    /// Ask API clients for these credentials, USER:PASSWORD (HTTP basic auth)
    /// [env: BATON_BASIC_AUTH].
    #[arg(long, value_name = "USER:PASSWORD")]
    basic_auth: Option<String>,
    /// Let script tasks on the Docker runner bind-mount host paths (`volumes`); off by default,
    /// as a mount gives a flow's author the worker host's files
    /// [env: BATON_DOCKER_VOLUMES_ENABLED=true].
    #[arg(long)]
    docker_volumes_enabled: bool,
    #[command(flatten)]
    retention: RetentionArgs,
    /// The DuckDB CLI binary the DuckDB tasks run (PyPI's `duckdb-cli`); `duckdb` on the PATH
    /// by default [env: BATON_DUCKDB].
    #[arg(long)]
    duckdb: Option<String>,
}

#[derive(Args)]
pub struct ServerArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Baton's Postgres, e.g. postgres://baton:secret@db:5432/baton [env: BATON_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Where the API and the workers' gRPC listen (default 0.0.0.0:8080) [env: BATON_LISTEN].
    #[arg(long, value_name = "ADDRESS")]
    listen: Option<String>,
    /// The token workers must present (standalone and executor) [env: BATON_WORKER_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Standalone only: task runs the in-process worker runs at once (default: one per CPU)
    /// [env: BATON_WORKER_SLOTS].
    #[arg(long, value_name = "N")]
    slots: Option<String>,
    /// Standalone only: where task working directories are created (default .baton)
    /// [env: BATON_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// Internal storage: a directory every process of the deployment shares (default
    /// <data-dir>/storage) [env: BATON_STORAGE].
    #[arg(long, value_name = "DIR")]
    storage: Option<String>,
    /// A folder of flow files deployed at start and whenever they change [env: BATON_FLOWS_DIR].
    #[arg(long, value_name = "DIR")]
    flows_dir: Option<String>,
    /// Ask API clients for these credentials, USER:PASSWORD (HTTP basic auth)
    /// [env: BATON_BASIC_AUTH].
    #[arg(long, value_name = "USER:PASSWORD")]
    basic_auth: Option<String>,
    /// Seconds an executor's claim on a queue message lasts unless renewed: how long its work
    /// waits before another executor takes it over when it dies (default 30)
    /// [env: BATON_CLAIM_LEASE].
    #[arg(long, value_name = "SECONDS")]
    claim_lease: Option<String>,
    /// Seconds a worker's hold on a task run lasts without a heartbeat: how long a vanished
    /// worker's task runs wait before going to another worker (default 30)
    /// [env: BATON_WORKER_LEASE].
    #[arg(long, value_name = "SECONDS")]
    worker_lease: Option<String>,
    /// Standalone only: let script tasks on the Docker runner bind-mount host paths (`volumes`); off by default,
    /// as a mount gives a flow's author the worker host's files
    /// [env: BATON_DOCKER_VOLUMES_ENABLED=true].
    #[arg(long)]
    docker_volumes_enabled: bool,
    #[command(flatten)]
    retention: RetentionArgs,
    /// The DuckDB CLI binary the DuckDB tasks run (PyPI's `duckdb-cli`); `duckdb` on the PATH
    /// by default [env: BATON_DUCKDB].
    #[arg(long)]
    duckdb: Option<String>,
}

#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The executor's gRPC address, e.g. http://executor:8081 [env: BATON_EXECUTOR_URL].
    #[arg(long, value_name = "URL")]
    executor: Option<String>,
    /// The shared worker token (prefer the environment variable) [env: BATON_WORKER_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// How many task runs to run at once (default: one per CPU) [env: BATON_WORKER_SLOTS].
    #[arg(long, value_name = "N")]
    slots: Option<String>,
    /// Take only task runs of this worker group [env: BATON_WORKER_GROUP].
    #[arg(long, value_name = "GROUP")]
    worker_group: Option<String>,
    /// The worker's id (default: hostname-pid-random) [env: BATON_WORKER_ID].
    #[arg(long, value_name = "ID")]
    worker_id: Option<String>,
    /// Internal storage: the directory the webserver and every worker share. Without it, tasks
    /// that use files (outputFiles, kestra:// inputFiles, read(), purge) fail
    /// [env: BATON_STORAGE].
    #[arg(long, value_name = "DIR")]
    storage: Option<String>,
    /// Seconds running task runs may take to finish on SIGTERM before they are handed back
    /// (default 60) [env: BATON_WORKER_DRAIN_GRACE].
    #[arg(long, value_name = "SECONDS")]
    drain_grace: Option<String>,
    /// Let script tasks on the Docker runner bind-mount host paths (`volumes`); off by default,
    /// as a mount gives a flow's author the worker host's files
    /// [env: BATON_DOCKER_VOLUMES_ENABLED=true].
    #[arg(long)]
    docker_volumes_enabled: bool,
    /// The DuckDB CLI binary the DuckDB tasks run (PyPI's `duckdb-cli`); `duckdb` on the PATH
    /// by default [env: BATON_DUCKDB].
    #[arg(long)]
    duckdb: Option<String>,
    /// Where the worker serves /health/* and /metrics (none unless set; the container image
    /// sets 0.0.0.0:8080) [env: BATON_WORKER_LISTEN].
    #[arg(long, value_name = "ADDRESS")]
    worker_listen: Option<String>,
}

/// The flags given, as (flag, text), for the configuration's flag layer.
struct Flags(Vec<(&'static str, String)>);

impl Flags {
    fn new(config: &ConfigArgs) -> Self {
        let mut flags = Self(Vec::new());
        flags
            .add("log-level", &config.log_level)
            .add("log-format", &config.log_format)
            .add("otlp-endpoint", &config.otlp_endpoint)
            .add("service-name", &config.service_name);
        flags
    }

    fn add(&mut self, flag: &'static str, value: &Option<String>) -> &mut Self {
        if let Some(value) = value {
            self.0.push((flag, value.clone()));
        }
        self
    }

    /// A flag without a value: given means true.
    fn switch(&mut self, flag: &'static str, given: bool) -> &mut Self {
        if given {
            self.0.push((flag, "true".to_owned()));
        }
        self
    }
}

pub fn run(command: ServerCommand) -> anyhow::Result<ExitCode> {
    let (role, args, flags) = match &command {
        ServerCommand::Local(args) => {
            let mut flags = Flags::new(&args.config);
            let listen = args
                .listen
                .clone()
                .or(args.port.map(|p| format!("127.0.0.1:{p}")));
            flags
                .add("listen", &listen)
                .add("data-dir", &args.data_dir)
                .add("storage", &args.storage)
                .add("slots", &args.slots)
                .add("flows-dir", &args.flows_dir)
                .add("basic-auth", &args.basic_auth)
                .switch("docker-volumes-enabled", args.docker_volumes_enabled)
                .add("duckdb", &args.duckdb);
            args.retention.add_to(&mut flags);
            (Role::Local, &args.config, flags)
        }
        ServerCommand::Standalone(args)
        | ServerCommand::Executor(args)
        | ServerCommand::Scheduler(args)
        | ServerCommand::Webserver(args) => {
            let role = match command {
                ServerCommand::Standalone(_) => Role::Standalone,
                ServerCommand::Executor(_) => Role::Executor,
                ServerCommand::Scheduler(_) => Role::Scheduler,
                _ => Role::Webserver,
            };
            let mut flags = Flags::new(&args.config);
            flags
                .add("database-url", &args.database_url)
                .add("listen", &args.listen)
                .add("token", &args.token)
                .add("slots", &args.slots)
                .add("data-dir", &args.data_dir)
                .add("storage", &args.storage)
                .add("flows-dir", &args.flows_dir)
                .add("basic-auth", &args.basic_auth)
                .add("claim-lease", &args.claim_lease)
                .add("worker-lease", &args.worker_lease)
                .switch("docker-volumes-enabled", args.docker_volumes_enabled)
                .add("duckdb", &args.duckdb);
            args.retention.add_to(&mut flags);
            (role, &args.config, flags)
        }
        ServerCommand::Worker(args) => {
            let mut flags = Flags::new(&args.config);
            flags
                .add("executor", &args.executor)
                .add("token", &args.token)
                .add("slots", &args.slots)
                .add("worker-group", &args.worker_group)
                .add("worker-id", &args.worker_id)
                .add("storage", &args.storage)
                .add("drain-grace", &args.drain_grace)
                .switch("docker-volumes-enabled", args.docker_volumes_enabled)
                .add("duckdb", &args.duckdb)
                .add("worker-listen", &args.worker_listen);
            (Role::Worker, &args.config, flags)
        }
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let sources = config::Sources {
        file: args.config.clone(),
        dir: PathBuf::from("."),
        env: &env,
        flags: flags.0,
    };
    let (config, file) = config::load(role, sources)?;
    if args.dump_config {
        print!("{}", config::to_yaml(&config, role, file.as_deref()));
        // The dump is for finding out what is wrong too, so it is printed all the same.
        if let Err(error) = config.validate(role) {
            eprintln!("warning: {error}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    config.validate(role)?;
    let secrets = secrets(env.into_iter());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // A worker is known by its id; other roles by host and process.
    let worker_id = config
        .worker
        .id
        .clone()
        .unwrap_or_else(baton_worker::default_worker_id);
    let instance = match role {
        Role::Worker => worker_id.clone(),
        _ => baton_worker::default_worker_id(),
    };
    let telemetry = runtime.block_on(async { crate::telemetry::init(&config, role, &instance) })?;
    runtime.spawn(crate::heap::trim_when_idle());
    let result = if role == Role::Worker {
        worker(&runtime, &config, worker_id, secrets)
    } else {
        node(&runtime, node_options(role, &config, secrets))
    };
    telemetry.shutdown();
    result
}
