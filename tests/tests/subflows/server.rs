//! A `baton` server process and the API calls the scenarios make.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use baton_tests::TOKEN;
use baton_tests::process::BatonProcess;
use serde_json::{Value, json};

use crate::flows::FLOWS;

/// A server process and a client for its API.
pub struct Server {
    _process: BatonProcess,
    api: String,
    http: reqwest::Client,
    pub dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn scratch_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("baton-subflows-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(dir.join("flows"))?;
    Ok(dir)
}

impl Server {
    fn new(process: BatonProcess, dir: PathBuf) -> Self {
        let base = process.url.clone().expect("server url");
        Server {
            _process: process,
            api: format!("{base}/api/v1"),
            http: reqwest::Client::new(),
            dir,
        }
    }

    pub async fn standalone_on_postgres() -> anyhow::Result<Self> {
        let database_url = baton_store::testing::PgServer::get()
            .fresh_database_url()
            .await;
        let dir = scratch_dir()?;
        let data = dir.join("data");
        let process = BatonProcess::spawn(
            &[
                "server",
                "standalone",
                "--listen",
                "127.0.0.1:0",
                "--slots",
                "4",
                "--data-dir",
                data.to_str().context("temp path")?,
            ],
            &[
                ("BATON_DATABASE_URL", &database_url),
                ("BATON_WORKER_TOKEN", TOKEN),
            ],
            true,
        )?;
        Ok(Self::new(process, dir))
    }

    pub async fn local() -> anyhow::Result<Self> {
        let dir = scratch_dir()?;
        let data = dir.join(".baton");
        let flows = dir.join("flows");
        let process = BatonProcess::spawn(
            &[
                "server",
                "local",
                "--listen",
                "127.0.0.1:0",
                "--slots",
                "4",
                "--data-dir",
                data.to_str().context("temp path")?,
                "--flows-dir",
                flows.to_str().context("temp path")?,
            ],
            &[],
            true,
        )?;
        Ok(Self::new(process, dir))
    }

    pub async fn deploy_all(&self) -> anyhow::Result<()> {
        for flow in FLOWS {
            let response = self
                .http
                .post(format!("{}/flows", self.api))
                .header("content-type", "application/x-yaml")
                .body(*flow)
                .send()
                .await?;
            ensure!(
                response.status().is_success(),
                "deploy: {}",
                response.text().await?
            );
        }
        Ok(())
    }

    /// Starts an execution of `tests.subflows.<flow_id>`; returns its id.
    pub async fn start(&self, flow_id: &str) -> anyhow::Result<String> {
        self.start_with(flow_id, json!({})).await
    }

    pub async fn start_with(&self, flow_id: &str, inputs: Value) -> anyhow::Result<String> {
        let response = self
            .http
            .post(format!("{}/executions/tests.subflows/{flow_id}", self.api))
            .json(&inputs)
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "start {flow_id}: {}",
            response.text().await?
        );
        let created: Value = response.json().await?;
        Ok(created["id"].as_str().context("execution id")?.to_owned())
    }

    pub async fn execution(&self, id: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}/executions/{id}", self.api))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "get {id}: {}",
            response.text().await?
        );
        Ok(response.json().await?)
    }

    /// Polls the execution until `done` says so (60 s at most).
    pub async fn wait_for(
        &self,
        id: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let execution = self.execution(id).await?;
            if done(&execution) {
                return Ok(execution);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{id} is not {what} after 60 s: {execution}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_until_ended(&self, id: &str) -> anyhow::Result<Value> {
        self.wait_for(id, "ended", |e| {
            matches!(
                e["state"].as_str(),
                Some("SUCCESS" | "WARNING" | "FAILED" | "KILLED" | "CANCELLED")
            )
        })
        .await
    }

    pub async fn kill(&self, id: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .delete(format!("{}/executions/{id}/kill", self.api))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "kill {id}: {}",
            response.text().await?
        );
        Ok(())
    }

    pub async fn restart(&self, id: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}/executions/{id}/restart", self.api))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "restart {id}: {}",
            response.text().await?
        );
        Ok(())
    }
}
