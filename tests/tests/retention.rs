//! Retention end to end: `baton sys purge` (the real binary) against a real `baton server
//! local`, and the retention job on a short interval. Rows, logs and files of ended executions
//! go; a paused execution stays.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use baton_tests::process::{BatonProcess, baton_binary};
use reqwest::StatusCode;
use serde_json::Value;

const WRITES_A_FILE: &str = r#"
id: writes
namespace: tests.retention
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles:
      - "*.csv"
    commands:
      - echo "made a file"
      - printf 'id\n1\n' > data.csv
"#;

const PAUSES: &str = r#"
id: pauses
namespace: tests.retention
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: before the pause
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
"#;

struct Api {
    api: String,
    http: reqwest::Client,
}

impl Api {
    fn new(server: &BatonProcess) -> anyhow::Result<Self> {
        Ok(Self {
            api: format!("{}/api/v1", server.url.clone().expect("server url")),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        })
    }

    async fn deploy(&self, flow: &str) -> anyhow::Result<()> {
        baton_tests::rest::deploy_flow(&self.http, &self.api, flow).await
    }

    /// Starts an execution; with `wait`, answers once it has ended.
    async fn run(&self, flow: &str, wait: bool) -> anyhow::Result<String> {
        let response = self
            .http
            .post(format!(
                "{}/executions/tests.retention/{flow}?wait={wait}",
                self.api
            ))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::OK,
            "{}",
            response.text().await?
        );
        let execution: Value = response.json().await?;
        Ok(execution["id"].as_str().unwrap_or_default().to_owned())
    }

    /// The execution's state, None once it is gone (404).
    async fn state(&self, id: &str) -> anyhow::Result<Option<String>> {
        let response = self
            .http
            .get(format!("{}/executions/{id}", self.api))
            .send()
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let execution: Value = response.json().await?;
        let state = &execution["state"];
        Ok(state["current"]
            .as_str()
            .or(state.as_str())
            .map(str::to_owned))
    }

    async fn log_count(&self, id: &str) -> anyhow::Result<usize> {
        let logs: Value = self
            .http
            .get(format!("{}/logs/{id}", self.api))
            .send()
            .await?
            .json()
            .await?;
        Ok(logs["results"].as_array().map_or(0, Vec::len))
    }

    /// Polls until the execution reaches `state`.
    async fn wait_for_state(&self, id: &str, state: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.state(id).await?.as_deref() != Some(state) {
            anyhow::ensure!(Instant::now() < deadline, "{id} never reached {state}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

fn local_server(data_dir: &Path, flags: &[&str]) -> anyhow::Result<BatonProcess> {
    let mut args = vec![
        "server",
        "local",
        "--listen",
        "127.0.0.1:0",
        "--slots",
        "2",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--flows-dir",
        "no-flows-here",
    ];
    args.extend_from_slice(flags);
    BatonProcess::spawn(&args, &[], true)
}

fn execution_folder(data_dir: &Path, flow: &str, id: &str) -> std::path::PathBuf {
    data_dir.join(format!("storage/tests/retention/{flow}/executions/{id}"))
}

/// `baton sys purge ARGS` against `server`; its stdout.
fn sys_purge(server: &BatonProcess, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(baton_binary())
        .args(["sys", "purge"])
        .args(args)
        .env("BATON_SERVER", server.url.clone().expect("server url"))
        .env_remove("BATON_USER")
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "baton sys purge {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_purge_deletes_ended_executions_their_logs_and_files() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join(".baton");
    let server = local_server(&data_dir, &[])?;
    let api = Api::new(&server)?;
    api.deploy(WRITES_A_FILE).await?;
    api.deploy(PAUSES).await?;
    let ended = api.run("writes", true).await?;
    let paused = api.run("pauses", false).await?;
    api.wait_for_state(&paused, "PAUSED").await?;
    assert_eq!(api.state(&ended).await?.as_deref(), Some("SUCCESS"));
    assert!(api.log_count(&ended).await? > 0);
    assert!(execution_folder(&data_dir, "writes", &ended).is_dir());
    // Ages are whole seconds back from now: let the execution be older than one.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let dry = sys_purge(&server, &["--older-than", "1d", "--dry-run"])?;
    assert!(dry.contains("would delete 0 execution(s)"), "{dry}");
    let dry = sys_purge(&server, &["--older-than", "1s", "--dry-run"])?;
    assert!(dry.contains("would delete 1 execution(s)"), "{dry}");
    assert_eq!(api.state(&ended).await?.as_deref(), Some("SUCCESS"));
    let other_flow = sys_purge(&server, &["--older-than", "1s", "--flow", "pauses"])?;
    assert!(
        other_flow.contains("deleted 0 execution(s)"),
        "{other_flow}"
    );

    let purged = sys_purge(&server, &["--older-than", "1s", "--namespace", "tests"])?;
    assert!(purged.contains("deleted 1 execution(s)"), "{purged}");
    assert!(purged.contains("1 file(s)"), "{purged}");
    assert_eq!(api.state(&ended).await?, None);
    assert_eq!(api.log_count(&ended).await?, 0);
    assert!(!execution_folder(&data_dir, "writes", &ended).exists());
    // The paused execution and its logs stay.
    assert_eq!(api.state(&paused).await?.as_deref(), Some("PAUSED"));
    assert!(api.log_count(&paused).await? > 0);

    // Logs only: the lines go, the execution stays.
    let kept = api.run("writes", true).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let logs = sys_purge(
        &server,
        &["--older-than", "1s", "--logs-only", "--flow", "writes"],
    )?;
    assert!(logs.contains("deleted"), "{logs}");
    assert_eq!(api.log_count(&kept).await?, 0);
    assert_eq!(api.state(&kept).await?.as_deref(), Some("SUCCESS"));
    assert!(execution_folder(&data_dir, "writes", &kept).is_dir());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_job_purges_on_its_interval() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join(".baton");
    let server = local_server(
        &data_dir,
        &[
            "--retention-executions",
            "1s",
            "--retention-interval",
            "0.2",
        ],
    )?;
    let api = Api::new(&server)?;
    api.deploy(WRITES_A_FILE).await?;
    api.deploy(PAUSES).await?;
    let paused = api.run("pauses", false).await?;
    api.wait_for_state(&paused, "PAUSED").await?;
    let ended = api.run("writes", true).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.state(&ended).await?.is_some() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the retention job never purged {ended}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!execution_folder(&data_dir, "writes", &ended).exists());
    assert_eq!(api.state(&paused).await?.as_deref(), Some("PAUSED"));
    Ok(())
}
