//! `baton server <role>`: long-running roles. Today: `baton server worker`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum ServerCommand {
    /// Run a worker: connect to an executor and run the task runs it pushes.
    Worker(WorkerArgs),
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
    /// Seconds running task runs may take to finish on SIGTERM before they are handed back.
    #[arg(long, env = "BATON_WORKER_DRAIN_GRACE", default_value_t = 60.0)]
    drain_grace: f64,
}

pub fn run(command: ServerCommand) -> anyhow::Result<ExitCode> {
    match command {
        ServerCommand::Worker(args) => worker(args),
    }
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        baton_worker::run(options, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
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
