//! A whole Baton in one test process: a real store, an executor with its worker hub on a real
//! TCP socket (port 0), and real workers connected over gRPC.
//!
//! ```ignore
//! let cluster = TestCluster::builder().workers(2).start().await?;
//! cluster.deploy(FLOW).await?;
//! let id = cluster.execute("tests", "hello", &[("name", "you")]).await?;
//! let execution = cluster.wait_until_ended(&id).await?;
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use baton_core::execution::Execution;
use baton_core::inputs::RawInput;
use baton_core::template::TemplateHost;
use baton_executor::executor::{ExecutorOptions, ExecutorState, NewExecution, create_execution};
use baton_executor::hub::{HubOptions, WorkerHub};
use baton_store::{LogRecord, SqliteStore, SqliteStoreOptions, Store};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

pub const TOKEN: &str = "cluster-token";

pub struct TestClusterBuilder {
    workers: usize,
    slots: u32,
    lease: Duration,
}

impl TestClusterBuilder {
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    pub fn slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }

    /// The worker lease: how long a vanished worker's task runs wait before going elsewhere.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub async fn start(self) -> anyhow::Result<TestCluster> {
        let dir = std::env::temp_dir().join(format!("baton-cluster-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir)?;
        let store = SqliteStore::connect(SqliteStoreOptions::new(dir.join("baton.db"))).await?;
        store.migrate().await?;
        let store: Arc<dyn Store> = Arc::new(store);

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (hub, hub_events) = WorkerHub::new(HubOptions {
            token: TOKEN.into(),
            lease: self.lease,
            heartbeat: self.lease / 4,
        });
        let service = hub.service();
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        tasks.push(tokio::spawn(async move {
            // Without TCP_NODELAY small gRPC frames wait for delayed ACKs (~40 ms a round trip).
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
                .await;
        }));

        let options = ExecutorOptions {
            poll_interval: Duration::from_millis(200),
            ..ExecutorOptions::default()
        };
        let executor = Arc::new(ExecutorState::new(
            store.clone(),
            hub.clone(),
            Arc::new(NoSecrets),
            options,
        ));
        let runner = executor.clone();
        tasks.push(tokio::spawn(async move {
            let _ = baton_executor::executor::run(runner, hub_events, std::future::pending()).await;
        }));

        let cluster = TestCluster {
            store,
            executor,
            hub,
            url,
            dir,
            tasks,
        };
        for _ in 0..self.workers {
            cluster.start_worker(self.slots).await;
        }
        Ok(cluster)
    }
}

pub struct TestCluster {
    pub store: Arc<dyn Store>,
    pub executor: Arc<ExecutorState>,
    pub hub: WorkerHub,
    /// The hub's gRPC address, for workers started as separate processes.
    pub url: String,
    pub dir: PathBuf,
    tasks: Vec<JoinHandle<()>>,
}

impl TestCluster {
    pub fn builder() -> TestClusterBuilder {
        TestClusterBuilder {
            workers: 1,
            slots: 4,
            lease: Duration::from_secs(5),
        }
    }

    /// Starts an in-process worker and waits until the hub sees it.
    pub async fn start_worker(&self, slots: u32) {
        let before = self.hub.workers().len();
        let mut options = baton_worker::WorkerOptions::new(self.url.clone(), TOKEN);
        options.slots = slots;
        options.work_dir = self.dir.join("work");
        options.drain_grace = Duration::from_secs(2);
        self.spawn(async move {
            let _ = baton_worker::run(options, std::future::pending()).await;
        });
        for _ in 0..200 {
            if self.hub.workers().len() > before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("worker did not connect to the hub within 5 s");
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        // Tasks end with the test's runtime; keeping the handle is not needed.
        drop(tokio::spawn(task));
    }

    /// Deploys a flow; it must be valid.
    pub async fn deploy(&self, yaml: &str) -> anyhow::Result<()> {
        let parsed = baton_core::parse::parse_flow(yaml);
        let Some(flow) = parsed.flow else {
            bail!("invalid flow: {:?}", parsed.diagnostics)
        };
        self.store
            .deploy_flow(&flow.namespace, &flow.id, yaml, false)
            .await?;
        Ok(())
    }

    pub async fn execute(
        &self,
        namespace: &str,
        flow_id: &str,
        inputs: &[(&str, &str)],
    ) -> anyhow::Result<String> {
        let request = NewExecution {
            namespace: namespace.into(),
            flow_id: flow_id.into(),
            inputs: inputs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), RawInput::Text((*v).to_owned())))
                .collect(),
            ..NewExecution::default()
        };
        Ok(create_execution(&self.executor, request).await?.id)
    }

    pub async fn execution(&self, id: &str) -> anyhow::Result<Execution> {
        let row = self.store.get_execution(uuid::Uuid::parse_str(id)?).await?;
        Ok(serde_json::from_value(row.document)?)
    }

    /// Polls until the execution reaches a terminal state (at most 30 s).
    pub async fn wait_until_ended(&self, id: &str) -> anyhow::Result<Execution> {
        self.wait_for(id, |e| e.state.is_terminal()).await
    }

    pub async fn wait_for(
        &self,
        id: &str,
        done: impl Fn(&Execution) -> bool,
    ) -> anyhow::Result<Execution> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let execution = self.execution(id).await?;
            if done(&execution) {
                return Ok(execution);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "execution {id} still {} after 30 s: {:?}",
                    execution.state,
                    execution
                        .task_runs
                        .iter()
                        .map(|r| (&r.task_id, r.state))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn logs(&self, id: &str) -> anyhow::Result<Vec<LogRecord>> {
        let id = uuid::Uuid::parse_str(id)?;
        self.store
            .logs(id, None, 10_000)
            .await
            .context("reading logs")
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Tests use no secrets or KV through the executor.
struct NoSecrets;

impl TemplateHost for NoSecrets {
    fn secret(&self, _: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
    fn kv(&self, _: &str, _: &str) -> Result<Option<serde_json::Value>, String> {
        Ok(None)
    }
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("cannot read {path} in the executor"))
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}
