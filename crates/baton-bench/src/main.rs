//! `baton-bench`: Baton's performance figures, measured on the real binary.
//!
//! It starts a durable Postgres, `baton server webserver`, `baton server executor` and N
//! `baton server worker` processes, drives them over the REST API like a user, and prints a
//! table of figures next to their targets (it never fails on a missed target). Temporal runs
//! the same sequential workload side by side. See docs/benchmarks.md.

mod api;
mod cluster;
mod process;
mod report;
mod scenarios;
mod stats;
mod temporal;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};

use crate::api::Api;
use crate::cluster::{Cluster, ClusterOptions};
use crate::report::{Row, Target};
use crate::scenarios::StepKind;
use crate::stats::Samples;

#[derive(Parser)]
#[command(about = "Measures Baton (real processes on a durable Postgres) and prints figures")]
struct Args {
    /// Scenarios to run, comma-separated. Default: all of them.
    #[arg(long, value_delimiter = ',', value_enum)]
    scenarios: Vec<Scenario>,
    /// A smoke run of a minute or two: fewer runs and executions, short idle periods.
    #[arg(long)]
    quick: bool,
    /// Measured runs of each sequential flow, after one warm-up run [default: 10, quick: 3].
    #[arg(long)]
    runs: Option<usize>,
    /// Tasks in each sequential flow.
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Executions of the one-task flow in the throughput run [default: 2000, quick: 300].
    #[arg(long)]
    executions: Option<usize>,
    /// Concurrent API clients creating the throughput run's executions.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// `baton server worker` processes.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Slots of each worker [default: the binary's own, one per CPU].
    #[arg(long)]
    slots: Option<u32>,
    /// Seconds without work before each after-idle dispatch [default: 60, quick: 5].
    #[arg(long)]
    idle: Option<u64>,
    /// Dispatches measured after idle periods [default: 3, quick: 1].
    #[arg(long)]
    idle_samples: Option<usize>,
    /// Seconds processes settle before their memory is read.
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// The baton binary [default: the one next to this binary; `cargo run` builds it first].
    #[arg(long)]
    baton: Option<PathBuf>,
    /// Where the Temporal venv and the run's logs go [default: ~/.cache/baton-bench].
    #[arg(long, env = "BATON_BENCH_CACHE")]
    cache_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Idle resident memory of every role.
    Memory,
    /// Sequential `log` tasks: latency per step and dispatch latency.
    SeqLog,
    /// Sequential shell `true` tasks on the Process runner.
    SeqShell,
    /// Many one-task executions at once: task runs per second.
    Throughput,
    /// Dispatch latency after the system sat idle.
    Idle,
    /// Temporal's dev server and Python SDK on the same sequential workload.
    Temporal,
}

struct Plan {
    scenarios: Vec<Scenario>,
    runs: usize,
    steps: usize,
    executions: usize,
    clients: usize,
    idle: Duration,
    idle_samples: usize,
    settle: Duration,
    baton: PathBuf,
    cache: PathBuf,
    log_dir: PathBuf,
    cluster: ClusterOptions,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("baton-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let plan = plan(args)?;
    eprintln!(
        "baton-bench: {} (logs in {})",
        plan.baton.display(),
        plan.log_dir.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    runtime.block_on(measure(&plan, &mut rows, &mut notes))?;
    report::print(
        &format!(
            "baton-bench: {} workers, {} steps per sequential flow, {} runs each",
            plan.cluster.workers, plan.steps, plan.runs
        ),
        &rows,
        &notes,
    );
    Ok(())
}

fn plan(args: Args) -> anyhow::Result<Plan> {
    let quick = args.quick;
    let scenarios = if args.scenarios.is_empty() {
        Scenario::value_variants().to_vec()
    } else {
        args.scenarios
    };
    let cache = match args.cache_dir {
        Some(dir) => dir,
        None => PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
            .join(".cache/baton-bench"),
    };
    let log_dir = cache
        .join("runs")
        .join(chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string());
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let baton = match args.baton {
        Some(path) => path,
        None => build_baton()?,
    };
    if !baton.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --profile dist -p baton-cli`, or pass --baton",
            baton.display()
        );
    }
    Ok(Plan {
        scenarios,
        runs: args.runs.unwrap_or(if quick { 3 } else { 10 }).max(1),
        steps: args.steps.max(1),
        executions: args.executions.unwrap_or(if quick { 300 } else { 2000 }),
        clients: args.clients.max(1),
        idle: Duration::from_secs(args.idle.unwrap_or(if quick { 5 } else { 60 })),
        idle_samples: args
            .idle_samples
            .unwrap_or(if quick { 1 } else { 3 })
            .max(1),
        settle: Duration::from_secs(args.settle),
        cluster: ClusterOptions {
            baton: baton.clone(),
            workers: args.workers.max(1),
            slots: args.slots,
            log_dir: log_dir.clone(),
        },
        baton,
        cache,
        log_dir,
    })
}

/// The `baton` binary of this build profile. Under `cargo run` it is built first, so the bench
/// never measures a stale binary.
fn build_baton() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the bench binary has no directory")?;
    let baton = dir.join("baton");
    if let Ok(cargo) = std::env::var("CARGO") {
        let profile = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug")
            .to_owned();
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "-p", "baton-cli", "--bin", "baton"]);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                build.arg("--release");
            }
            other => {
                build.args(["--profile", other]);
            }
        }
        eprintln!("baton-bench: building the baton binary ({profile})");
        let status = build.status().context("cannot run cargo build")?;
        if !status.success() {
            bail!("cargo build of the baton binary failed ({status})");
        }
        if profile == "debug" {
            eprintln!("baton-bench: warning: a debug build; use --profile dist for real figures");
        }
    }
    Ok(baton)
}

async fn measure(plan: &Plan, rows: &mut Vec<Row>, notes: &mut Vec<String>) -> anyhow::Result<()> {
    let wants = |s: Scenario| plan.scenarios.contains(&s);
    let needs_cluster = plan.scenarios.iter().any(|s| *s != Scenario::Temporal);
    let mut baton_per_step = None;
    if needs_cluster {
        let mut cluster = Cluster::start(&plan.cluster).await?;
        let api = Api::new(&cluster.api)?;
        if wants(Scenario::Memory) {
            tokio::time::sleep(plan.settle).await;
            memory_rows(&cluster.processes(), "idle at start", rows)?;
        }
        if wants(Scenario::SeqLog) {
            eprintln!(
                "baton-bench: {} sequential log tasks × {} runs",
                plan.steps, plan.runs
            );
            let seq = scenarios::sequential(&api, StepKind::Log, plan.steps, plan.runs).await?;
            baton_per_step = Samples::new(seq.per_step.clone()).median();
            sequential_rows("log", &seq, rows, notes);
        }
        if wants(Scenario::SeqShell) {
            eprintln!(
                "baton-bench: {} sequential shell tasks × {} runs",
                plan.steps, plan.runs
            );
            let seq = scenarios::sequential(&api, StepKind::Shell, plan.steps, plan.runs).await?;
            sequential_rows("shell true", &seq, rows, notes);
        }
        if wants(Scenario::Throughput) {
            eprintln!("baton-bench: {} one-task executions", plan.executions);
            let result = scenarios::throughput(&api, plan.executions, plan.clients).await?;
            rows.push(
                Row::new(
                    format!("throughput, {} one-task executions", result.executions),
                    "runs/s",
                    Samples::new(vec![result.rate]),
                )
                .no_spread()
                .target(Target::AtLeast(500.0)),
            );
            rows.push(
                Row::new(
                    "throughput, client clock",
                    "runs/s",
                    Samples::new(vec![result.rate_client]),
                )
                .no_spread(),
            );
            rows.push(Row::new(
                "throughput: created → ended per execution",
                "ms",
                Samples::new(result.latency),
            ));
            notes.push(format!(
                "throughput: executions ÷ (last end − first creation) from the documents; {} API \
                 clients create them (POST without wait) while earlier ones run",
                plan.clients
            ));
        }
        if wants(Scenario::Idle) {
            eprintln!(
                "baton-bench: {} dispatch(es) after {} s idle",
                plan.idle_samples,
                plan.idle.as_secs()
            );
            let samples = scenarios::after_idle(&api, plan.idle, plan.idle_samples).await?;
            rows.push(
                Row::new(
                    format!("dispatch after {} s idle", plan.idle.as_secs()),
                    "ms",
                    Samples::new(samples),
                )
                .target(Target::AtMost(1.0)),
            );
        }
        if wants(Scenario::Memory) {
            tokio::time::sleep(plan.settle).await;
            memory_rows(&cluster.processes(), "idle after the runs", rows)?;
            local_memory(plan, &cluster.database_url, rows, notes).await;
        }
        cluster.check_alive()?;
    }
    if wants(Scenario::Temporal) {
        eprintln!(
            "baton-bench: Temporal, {} sequential activities × {} runs",
            plan.steps, plan.runs
        );
        let (cache, log_dir, steps, runs) = (
            plan.cache.clone(),
            plan.log_dir.clone(),
            plan.steps,
            plan.runs,
        );
        let outcome =
            tokio::task::spawn_blocking(move || temporal::run(&cache, &log_dir, steps, runs))
                .await?;
        match outcome {
            Ok(temporal) => {
                let samples = Samples::new(temporal.per_step);
                let ratio = match (baton_per_step, samples.median()) {
                    (Some(baton), Some(temporal)) => {
                        format!("Baton ÷ Temporal = {:.2}", baton / temporal)
                    }
                    _ => "run seq-log too for the ratio".to_owned(),
                };
                rows.push(
                    Row::new("Temporal: per step, 40 activities", "ms", samples).ratio(ratio),
                );
                notes.push(format!(
                    "Temporal {} dev server (SQLite file, transferProcessorMaxPollRPS=1000), \
                     Python SDK worker with async activities; client wall time ÷ steps",
                    temporal.version.lines().next().unwrap_or_default()
                ));
            }
            Err(error) => {
                eprintln!("baton-bench: Temporal did not run: {error:#}");
                notes.push(format!("Temporal did not run: {error:#}"));
            }
        }
    }
    Ok(())
}

fn sequential_rows(
    what: &str,
    seq: &scenarios::Sequential,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) {
    let target = if what == "log" {
        Some(Target::AtMost(5.0))
    } else {
        None
    };
    let mut row = Row::new(
        format!("{what}: per step, trigger → SUCCESS"),
        "ms",
        Samples::new(seq.per_step.clone()),
    );
    if let Some(target) = target {
        row = row.target(target);
    }
    rows.push(row);
    rows.push(Row::new(
        format!("{what}: per step, client ?wait=true"),
        "ms",
        Samples::new(seq.per_step_client.clone()),
    ));
    let dispatch = Row::new(
        format!("{what}: dispatch latency"),
        "ms",
        Samples::new(seq.dispatch.clone()),
    );
    rows.push(if what == "log" {
        dispatch.target(Target::AtMost(1.0))
    } else {
        dispatch
    });
    if !seq.dispatch_recorded && what == "log" {
        notes.push(
            "dispatch latency: this executor records no dispatch time; attempt created (before \
             its commit) → started is shown instead"
                .to_owned(),
        );
    }
}

fn memory_rows(
    processes: &[&process::Process],
    when: &str,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let mut workers = Vec::new();
    for process in processes {
        let mb = process.rss_bytes()? as f64 / 1e6;
        if process.name.starts_with("worker") {
            workers.push(mb);
        } else {
            rows.push(memory_row(&process.name, when, mb));
        }
    }
    if let Some(largest) = Samples::new(workers.clone()).max() {
        rows.push(memory_row(
            &format!("worker (largest of {})", workers.len()),
            when,
            largest,
        ));
    }
    Ok(())
}

fn memory_row(role: &str, when: &str, mb: f64) -> Row {
    Row::new(format!("RSS {role}, {when}"), "MB", Samples::new(vec![mb]))
        .no_spread()
        .target(Target::AtMost(30.0))
}

/// `baton server local` and, when the binary has it, `baton server scheduler`, each idle.
async fn local_memory(
    plan: &Plan,
    database_url: &str,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) {
    match cluster::start_local(&plan.baton, &plan.log_dir, &plan.log_dir) {
        Ok(local) => {
            tokio::time::sleep(plan.settle).await;
            match local.rss_bytes() {
                Ok(bytes) => rows.push(memory_row("local", "idle", bytes as f64 / 1e6)),
                Err(error) => notes.push(format!("RSS local: {error:#}")),
            }
        }
        Err(error) => notes.push(format!("baton server local did not start: {error:#}")),
    }
    if !cluster::has_role(&plan.baton, "scheduler") {
        notes.push("no scheduler role in this binary: not measured".to_owned());
        return;
    }
    let envs = [
        ("BATON_DATABASE_URL", database_url),
        ("BATON_LISTEN", "127.0.0.1:0"),
    ];
    let started = process::Process::spawn(
        "scheduler",
        &plan.baton,
        &["server", "scheduler"],
        &envs,
        &plan.log_dir,
    );
    match started {
        Ok(mut scheduler) => {
            tokio::time::sleep(plan.settle).await;
            match scheduler.check_alive().and_then(|()| scheduler.rss_bytes()) {
                Ok(bytes) => rows.push(memory_row("scheduler", "idle", bytes as f64 / 1e6)),
                Err(error) => notes.push(format!("RSS scheduler: {error:#}")),
            }
        }
        Err(error) => notes.push(format!("baton server scheduler did not start: {error:#}")),
    }
}
