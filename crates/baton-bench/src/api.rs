//! The bench talks to Baton the way users do: over its REST API.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;

#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

/// The parts of an execution document the figures need.
#[derive(Clone, Debug)]
pub struct ExecutionTimes {
    pub id: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptTimes>,
}

#[derive(Clone, Debug)]
pub struct AttemptTimes {
    /// When the engine made the attempt (before its step committed).
    pub created_at: DateTime<Utc>,
    /// When the executor handed it to the worker hub, its dispatch committed (newer executors).
    pub dispatched_at: Option<DateTime<Utc>>,
    /// When the worker started it.
    pub started_at: Option<DateTime<Utc>>,
}

impl AttemptTimes {
    /// Dispatch latency in ms: dispatch committed → worker started. Falls back to the attempt's
    /// creation (before the commit) for executors that do not record the dispatch.
    pub fn dispatch_ms(&self) -> Option<f64> {
        let from = self.dispatched_at.unwrap_or(self.created_at);
        Some(millis(self.started_at? - from))
    }
}

pub fn millis(delta: chrono::TimeDelta) -> f64 {
    delta.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

impl ExecutionTimes {
    pub fn parse(document: &Value) -> anyhow::Result<ExecutionTimes> {
        let time = |value: &Value, key: &str| -> anyhow::Result<Option<DateTime<Utc>>> {
            match value.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(
                    DateTime::parse_from_rfc3339(text)
                        .with_context(|| format!("{key}: {text}"))?
                        .with_timezone(&Utc),
                )),
                Some(other) => bail!("{key} is not a date: {other}"),
            }
        };
        let mut attempts = Vec::new();
        for run in document["taskRuns"].as_array().into_iter().flatten() {
            for attempt in run["attempts"].as_array().into_iter().flatten() {
                attempts.push(AttemptTimes {
                    created_at: time(attempt, "createdAt")?.context("attempt without createdAt")?,
                    dispatched_at: time(attempt, "dispatchedAt")?,
                    started_at: time(attempt, "startedAt")?,
                });
            }
        }
        Ok(ExecutionTimes {
            id: document["id"].as_str().unwrap_or_default().to_owned(),
            state: document["state"].as_str().unwrap_or_default().to_owned(),
            created_at: time(document, "createdAt")?.context("execution without createdAt")?,
            ended_at: time(document, "endedAt")?,
            attempts,
        })
    }

    /// Created → ended, in ms.
    pub fn duration_ms(&self) -> Option<f64> {
        Some(millis(self.ended_at? - self.created_at))
    }
}

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()?;
        Ok(Api {
            base: format!("{}/api/v1", base.trim_end_matches('/')),
            http,
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("{status}: {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// Creates the flow; one that exists already (deployed by an earlier scenario) is kept.
    pub async fn deploy(&self, yaml: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}/flows", self.base))
            .header("content-type", "application/x-yaml")
            .body(yaml.to_owned())
            .send()
            .await?;
        let status = response.status();
        if status.is_success() || status == reqwest::StatusCode::CONFLICT {
            return Ok(());
        }
        bail!("deploying a flow: {status}: {}", response.text().await?)
    }

    /// Creates an execution; with `wait`, the answer comes when it has ended.
    pub async fn trigger(&self, namespace: &str, flow: &str, wait: bool) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(format!("{}/executions/{namespace}/{flow}", self.base))
                .query(&[("wait", wait)]),
        )
        .await
        .with_context(|| format!("triggering {namespace}.{flow}"))
    }

    pub async fn execution(&self, id: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}/executions/{id}", self.base)))
            .await
            .with_context(|| format!("reading execution {id}"))
    }

    /// Whether any execution of the flow has not ended yet.
    pub async fn any_unfinished(&self, namespace: &str, flow: &str) -> anyhow::Result<bool> {
        let mut query = vec![
            ("namespace", namespace.to_owned()),
            ("flowId", flow.to_owned()),
            ("size", "1".to_owned()),
        ];
        for state in [
            "CREATED", "QUEUED", "RUNNING", "PAUSED", "RETRYING", "KILLING",
        ] {
            query.push(("state", state.to_owned()));
        }
        let page = self
            .send(
                self.http
                    .get(format!("{}/executions/search", self.base))
                    .query(&query),
            )
            .await?;
        Ok(page["results"].as_array().is_some_and(|r| !r.is_empty()))
    }
}
