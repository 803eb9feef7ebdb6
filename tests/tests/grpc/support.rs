//! A `baton server local` process and tonic clients for it.

pub use std::time::Duration;

pub use baton_proto::v1 as pb;
use baton_proto::v1::execution_service_client::ExecutionServiceClient;
use baton_proto::v1::flow_service_client::FlowServiceClient;
pub use baton_tests::process::BatonProcess;
use tokio_stream::StreamExt as _;
pub use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub const HELLO: &str = r#"id: hello
namespace: tests.grpc
inputs:
  - id: name
    type: STRING
    defaults: world
  - id: tags
    type: ARRAY
    itemType: STRING
    defaults: []
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ inputs.name }} {{ inputs.tags | length }} tag(s)"
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.name }}!"
"#;

pub const SLEEPY: &str = r#"id: sleepy
namespace: tests.grpc
tasks:
  - id: sleep
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 30
"#;

/// Adds `authorization` metadata to every call when credentials are set.
#[derive(Clone)]
pub struct Credentials(pub Option<String>);

impl tonic::service::Interceptor for Credentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.parse().expect("ascii credentials"));
        }
        Ok(request)
    }
}

pub type Flows = FlowServiceClient<InterceptedService<Channel, Credentials>>;
pub type Executions = ExecutionServiceClient<InterceptedService<Channel, Credentials>>;

/// `baton server local` on 127.0.0.1:0 with its own data directory, killed on drop.
pub struct Server {
    pub process: BatonProcess,
    pub url: String,
    dir: std::path::PathBuf,
}

impl Server {
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(&[])
    }

    pub fn start_with(envs: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("baton-grpc-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir)?;
        let data = dir.join("data").display().to_string();
        let flows = dir.join("flows").display().to_string();
        let process = BatonProcess::spawn(
            &[
                "server",
                "local",
                "--listen",
                "127.0.0.1:0",
                "--slots",
                "2",
                "--data-dir",
                &data,
                "--flows-dir",
                &flows,
            ],
            envs,
            true,
        )?;
        let url = process.url.clone().expect("the server's address");
        Ok(Self { process, url, dir })
    }

    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(self.url.clone())?.connect().await?)
    }

    /// Clients that send `authorization: Basic base64(user)` when `user` (USER:PASSWORD) is set.
    pub async fn clients(&self, user: Option<&str>) -> anyhow::Result<(Flows, Executions)> {
        use base64::Engine as _;
        let credentials = Credentials(user.map(|user| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(user)
            )
        }));
        let channel = self.channel().await?;
        Ok((
            FlowServiceClient::with_interceptor(channel.clone(), credentials.clone()),
            ExecutionServiceClient::with_interceptor(channel, credentials),
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill_hard();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn deploy(flows: &mut Flows, source: &str) -> anyhow::Result<pb::Flow> {
    let request = pb::DeployFlowRequest {
        source: source.to_owned(),
        file_name: None,
    };
    let response = flows.deploy(request).await?.into_inner();
    response
        .flow
        .ok_or_else(|| anyhow::anyhow!("no flow in the answer"))
}

pub fn state_of(execution: &pb::Execution) -> pb::State {
    pb::State::try_from(execution.state).unwrap_or(pb::State::Unspecified)
}

/// Reads a server stream to its end (at most 30 s): a stream that does not end fails the test.
pub async fn read_to_end<T: std::fmt::Debug>(
    mut stream: tonic::Streaming<T>,
) -> anyhow::Result<Vec<T>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut items = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => anyhow::bail!("the stream did not end within 30 s: {items:?}"),
            Ok(None) => return Ok(items),
            Ok(Some(item)) => items.push(item?),
        }
    }
}

/// Reads a Watch stream until an execution message satisfies `done`; returns that message.
pub async fn watch_until(
    executions: &mut Executions,
    id: &str,
    done: impl Fn(&pb::Execution) -> bool,
) -> anyhow::Result<pb::Execution> {
    let request = pb::WatchExecutionRequest { id: id.to_owned() };
    let mut stream = executions.watch(request).await?.into_inner();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .map_err(|_| anyhow::anyhow!("execution {id}: not there within 30 s"))?;
        let execution = next.ok_or_else(|| anyhow::anyhow!("the watch ended first"))??;
        if done(&execution) {
            return Ok(execution);
        }
    }
}
