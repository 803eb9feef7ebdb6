//! A Baton deployment made of real processes: a durable Postgres, one `baton server webserver`,
//! one `baton server executor` and N `baton server worker`s, each a separate process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use baton_store::testing::PgServer;

use crate::process::Process;

const TOKEN: &str = "bench-worker-token";

pub struct ClusterOptions {
    pub baton: PathBuf,
    pub workers: usize,
    /// Task runs each worker runs at once; the binary's default (one per CPU) when `None`.
    pub slots: Option<u32>,
    pub log_dir: PathBuf,
}

pub struct Cluster {
    pub database_url: String,
    /// The webserver's base URL, e.g. `http://127.0.0.1:41234`.
    pub api: String,
    pub webserver: Process,
    pub executor: Process,
    pub workers: Vec<Process>,
}

impl Cluster {
    pub async fn start(options: &ClusterOptions) -> anyhow::Result<Cluster> {
        // Postgres with its default durability: every commit waits for the disk, as deployed.
        let database_url = PgServer::durable().fresh_database_url().await;
        let baton = options.baton.as_path();
        let server_env = [
            ("BATON_DATABASE_URL", database_url.as_str()),
            ("BATON_WORKER_TOKEN", TOKEN),
            ("BATON_LISTEN", "127.0.0.1:0"),
        ];
        let mut executor = Process::spawn(
            "executor",
            baton,
            &["server", "executor"],
            &server_env,
            &options.log_dir,
        )?;
        let executor_url = executor.wait_for_url()?;
        let mut webserver = Process::spawn(
            "webserver",
            baton,
            &["server", "webserver"],
            &server_env,
            &options.log_dir,
        )?;
        let api = webserver.wait_for_url()?;
        let mut workers = Vec::new();
        for n in 0..options.workers {
            let id = format!("bench-worker-{n}");
            let slots = options.slots.map(|s| s.to_string());
            let mut args = vec!["server", "worker", "--worker-id", id.as_str()];
            if let Some(slots) = &slots {
                args.extend(["--slots", slots.as_str()]);
            }
            let envs = [
                ("BATON_EXECUTOR_URL", executor_url.as_str()),
                ("BATON_WORKER_TOKEN", TOKEN),
            ];
            workers.push(Process::spawn(
                &format!("worker-{n}"),
                baton,
                &args,
                &envs,
                &options.log_dir,
            )?);
        }
        // The executor logs each worker that connects.
        executor
            .wait_for_line("worker connected", options.workers, Duration::from_secs(30))
            .context("waiting for the workers to connect")?;
        Ok(Cluster {
            database_url,
            api,
            webserver,
            executor,
            workers,
        })
    }

    /// Fails when any role has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.webserver.check_alive()?;
        self.executor.check_alive()?;
        for worker in &mut self.workers {
            worker.check_alive()?;
        }
        Ok(())
    }

    /// Every role's process, for memory readings.
    pub fn processes(&self) -> Vec<&Process> {
        let mut all = vec![&self.webserver, &self.executor];
        all.extend(self.workers.iter());
        all
    }
}

/// `baton server local` (SQLite, every role in one process) in a directory of its own.
pub fn start_local(baton: &Path, dir: &Path, log_dir: &Path) -> anyhow::Result<Process> {
    let data = dir.join("local-data");
    let flows = dir.join("local-flows");
    std::fs::create_dir_all(&flows)?;
    let (data, flows) = (data.display().to_string(), flows.display().to_string());
    let mut local = Process::spawn(
        "local",
        baton,
        &[
            "server",
            "local",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data,
            "--flows-dir",
            &flows,
        ],
        &[],
        log_dir,
    )?;
    local.wait_for_url()?;
    Ok(local)
}

/// Whether this baton binary has a `baton server <role>` subcommand.
pub fn has_role(baton: &Path, role: &str) -> bool {
    std::process::Command::new(baton)
        .args(["server", role, "--help"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
