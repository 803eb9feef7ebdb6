//! The webserver's REST API, as much of it as the chaos test drives.

use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::Value;

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: String) -> Self {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a plain HTTP client"),
            base,
        }
    }

    pub async fn deploy(&self, flow: &str) -> anyhow::Result<()> {
        baton_tests::rest::deploy_flow(&self.http, &format!("{}/api/v1", self.base), flow).await
    }

    pub async fn execute(
        &self,
        namespace: &str,
        flow: &str,
        inputs: &Value,
    ) -> anyhow::Result<String> {
        let response = self
            .http
            .post(format!(
                "{}/api/v1/executions/{namespace}/{flow}",
                self.base
            ))
            .json(inputs)
            .send()
            .await?;
        let status = response.status();
        let created: Value = response.json().await?;
        ensure!(
            status.is_success(),
            "execute {namespace}.{flow}: {status} {created}"
        );
        Ok(created["id"]
            .as_str()
            .with_context(|| format!("no execution id in {created}"))?
            .to_owned())
    }

    pub async fn execution(&self, id: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}/api/v1/executions/{id}", self.base))
            .send()
            .await?;
        let status = response.status();
        ensure!(status.is_success(), "execution {id}: {status}");
        Ok(response.json().await?)
    }

    /// The execution's log lines (one page, more than these flows write).
    pub async fn logs(&self, id: &str) -> anyhow::Result<Vec<Value>> {
        let page: Value = self
            .http
            .get(format!("{}/api/v1/logs/{id}", self.base))
            .query(&[("limit", "1000")])
            .send()
            .await?
            .json()
            .await?;
        page["results"]
            .as_array()
            .cloned()
            .with_context(|| format!("no results in the logs of {id}: {page}"))
    }
}

pub fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "SUCCESS" | "WARNING" | "FAILED" | "KILLED" | "CANCELLED"
    )
}
