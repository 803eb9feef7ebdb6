//! What the API tests share: the flows they run, and an API on a real socket in front of a
//! test cluster.

pub use std::time::{Duration, Instant};

pub use baton_tests::TestCluster;
pub use baton_webserver::{ApiOptions, ApiState, BasicAuth, router, serve};
pub use reqwest::StatusCode;
pub use reqwest::multipart::{Form, Part};
pub use serde_json::{Value, json};
pub use tokio::sync::oneshot;

pub const HELLO: &str = r#"id: hello
namespace: tests.api
inputs:
  - id: name
    type: STRING
    defaults: world
  - id: count
    type: INT
    defaults: 1
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ inputs.name }} x{{ inputs.count }}"
  - id: second
    type: io.kestra.plugin.core.log.Log
    message: second line
  - id: third
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message: third line
"#;

pub const SLEEPY: &str = r#"id: sleepy
namespace: tests.api
tasks:
  - id: sleep
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 30
"#;

pub const PAUSED: &str = r#"id: paused
namespace: tests.api
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: resumed
"#;

pub const ONE_RETURN: &str = r#"id: one_return
namespace: tests.api
tasks:
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "42"
"#;

/// A cluster with the API served on 127.0.0.1:0.
pub struct Api {
    /// Held so the store, executor and workers live as long as the test.
    pub _cluster: TestCluster,
    pub base: String,
    pub http: reqwest::Client,
    pub stop: Option<oneshot::Sender<()>>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Api {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(ApiOptions::default()).await
    }

    pub async fn start_with(options: ApiOptions) -> anyhow::Result<Self> {
        let cluster = TestCluster::builder().start().await?;
        let state = ApiState::new(cluster.store.clone(), cluster.executor.clone())
            .with_options(options)
            .with_storage(cluster.storage.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/api/v1", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(serve(listener, router(state), async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            _cluster: cluster,
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            stop: Some(stop),
            server,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn deploy(&self, yaml: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(self.url("/flows"))
            .header("content-type", "application/x-yaml")
            .body(yaml.to_owned())
            .send()
            .await?;
        expect(response, StatusCode::OK).await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, Value)> {
        let response = self.http.get(self.url(path)).send().await?;
        Ok((response.status(), response.json().await?))
    }

    /// Starts an execution with a JSON body of inputs; returns its id.
    pub async fn execute(&self, flow: &str, inputs: Value) -> anyhow::Result<String> {
        let response = self
            .http
            .post(self.url(&format!("/executions/tests.api/{flow}")))
            .json(&inputs)
            .send()
            .await?;
        let body = expect(response, StatusCode::OK).await?;
        Ok(body["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Polls `GET /executions/{id}` until `done` (at most 30 s).
    pub async fn wait_for(&self, id: &str, done: impl Fn(&str) -> bool) -> anyhow::Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get(&format!("/executions/{id}")).await?;
            anyhow::ensure!(status == StatusCode::OK, "{status}: {body}");
            if done(body["state"].as_str().unwrap_or_default()) {
                return Ok(body);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "still {} after 30 s",
                body["state"]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_until_ended(&self, id: &str) -> anyhow::Result<Value> {
        self.wait_for(id, |state| {
            ["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"].contains(&state)
        })
        .await
    }

    /// Stops the server gracefully; it must return promptly.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.server).await???;
        Ok(())
    }
}

/// The body of a response that must have `status`.
pub async fn expect(response: reqwest::Response, status: StatusCode) -> anyhow::Result<Value> {
    let actual = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(actual == status, "expected {status}, got {actual}: {body}");
    Ok(body)
}
