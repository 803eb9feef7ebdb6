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

pub mod compose;
pub mod process;
pub mod rest;

pub const TOKEN: &str = "cluster-token";

pub struct TestClusterBuilder {
    workers: usize,
    slots: u32,
    lease: Duration,
    executors: usize,
    postgres: bool,
    secrets: std::collections::HashMap<String, String>,
}

impl TestClusterBuilder {
    /// `secret('NAME')` values for the workers, base64-encoded as `SECRET_NAME` holds them.
    pub fn secret(mut self, name: &str, base64: &str) -> Self {
        self.secrets.insert(name.to_owned(), base64.to_owned());
        self
    }

    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    pub fn slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }

    /// Runs on a fresh database of the test Postgres server instead of SQLite.
    pub fn postgres(mut self) -> Self {
        self.postgres = true;
        self
    }

    /// Several executors on the one store, each with its own hub and `workers` workers.
    pub fn executors(mut self, executors: usize) -> Self {
        self.executors = executors;
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
        let mut database_url = None;
        let store: Arc<dyn Store> = if self.postgres {
            // By URL, so `baton` processes a test starts can share the database.
            let url = baton_store::testing::PgServer::get()
                .fresh_database_url()
                .await;
            let store = baton_store::PgStore::connect(baton_store::PgStoreOptions::from_url(&url)?);
            store.migrate().await?;
            database_url = Some(url);
            Arc::new(store)
        } else {
            let store = SqliteStore::connect(SqliteStoreOptions::new(dir.join("baton.db"))).await?;
            store.migrate().await?;
            Arc::new(store)
        };
        let mut nodes = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..self.executors.max(1) {
            let (node, node_tasks) = start_node(store.clone(), self.lease).await?;
            nodes.push(node);
            tasks.extend(node_tasks);
        }
        let first = &nodes[0];
        let storage = baton_storage::Storage::local(dir.join("storage"))?;
        let cluster = TestCluster {
            store,
            storage,
            database_url,
            executor: first.executor.clone(),
            hub: first.hub.clone(),
            url: first.url.clone(),
            nodes,
            dir,
            tasks,
            secrets: self.secrets,
        };
        for node in 0..cluster.nodes.len() {
            for _ in 0..self.workers {
                cluster.start_worker_on(node, self.slots).await;
            }
        }
        Ok(cluster)
    }
}

/// One executor with its worker hub on a port-0 socket.
pub struct Node {
    pub executor: Arc<ExecutorState>,
    pub hub: WorkerHub,
    pub url: String,
}

async fn start_node(
    store: Arc<dyn Store>,
    lease: Duration,
) -> anyhow::Result<(Node, Vec<JoinHandle<()>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (hub, hub_events) = WorkerHub::new(HubOptions {
        token: TOKEN.into(),
        lease,
        heartbeat: lease / 4,
    });
    let service = hub.service();
    let server = tokio::spawn(async move {
        // Without TCP_NODELAY small gRPC frames wait for delayed ACKs (~40 ms a round trip).
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
            .await;
    });
    let options = ExecutorOptions {
        poll_interval: Duration::from_millis(200),
        ..ExecutorOptions::default()
    };
    let executor = Arc::new(ExecutorState::new(
        store,
        hub.clone(),
        Arc::new(NoSecrets),
        options,
    ));
    let runner = executor.clone();
    let looping = tokio::spawn(async move {
        let _ = baton_executor::executor::run(runner, hub_events, std::future::pending()).await;
    });
    Ok((Node { executor, hub, url }, vec![server, looping]))
}

pub struct TestCluster {
    pub store: Arc<dyn Store>,
    /// Internal storage (a directory under `dir`), shared by every worker of the cluster.
    pub storage: baton_storage::Storage,
    /// The Postgres database's URL, for `baton` processes; `None` on SQLite.
    pub database_url: Option<String>,
    /// The first node's executor and hub.
    pub executor: Arc<ExecutorState>,
    pub hub: WorkerHub,
    /// The first hub's gRPC address, for workers started as separate processes.
    pub url: String,
    pub nodes: Vec<Node>,
    pub dir: PathBuf,
    tasks: Vec<JoinHandle<()>>,
    /// Given to every worker started.
    secrets: std::collections::HashMap<String, String>,
}

impl TestCluster {
    pub fn builder() -> TestClusterBuilder {
        TestClusterBuilder {
            workers: 1,
            slots: 4,
            lease: Duration::from_secs(5),
            executors: 1,
            postgres: false,
            secrets: std::collections::HashMap::new(),
        }
    }

    /// Starts an in-process worker on the first node and waits until its hub sees it.
    pub async fn start_worker(&self, slots: u32) {
        self.start_worker_on(0, slots).await;
    }

    pub async fn start_worker_on(&self, node: usize, slots: u32) {
        let hub = &self.nodes[node].hub;
        let mut options = baton_worker::WorkerOptions::new(self.nodes[node].url.clone(), TOKEN);
        options.slots = slots;
        options.work_dir = self.dir.join("work");
        options.storage = Some(self.storage.clone());
        options.secrets = self.secrets.clone();
        options.duckdb = duckdb_binary();
        options.drain_grace = Duration::from_secs(2);
        // Wait for this worker's id, not for a count: another worker may leave meanwhile.
        let id = options.worker_id.clone();
        self.spawn(async move {
            let _ = baton_worker::run(options, std::future::pending()).await;
        });
        for _ in 0..200 {
            if hub.workers().iter().any(|w| w.id == id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("worker {id} did not connect to the hub within 5 s");
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
        self.execute_on(0, namespace, flow_id, inputs).await
    }

    /// [`TestCluster::execute`] through the executor of node `node` (modulo the node count).
    pub async fn execute_on(
        &self,
        node: usize,
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
        let executor = &self.nodes[node % self.nodes.len()].executor;
        Ok(create_execution(executor, request).await?.id)
    }

    /// Like [`execute`](Self::execute), with the `trigger` variables a trigger would set (a
    /// Schedule's `date`…), as if it had fired.
    pub async fn execute_triggered(
        &self,
        namespace: &str,
        flow_id: &str,
        inputs: &[(&str, &str)],
        trigger: serde_json::Value,
    ) -> anyhow::Result<String> {
        let request = NewExecution {
            namespace: namespace.into(),
            flow_id: flow_id.into(),
            inputs: inputs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), RawInput::Text((*v).to_owned())))
                .collect(),
            trigger: Some(trigger),
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
        self.wait_for_within(id, Duration::from_secs(30), done)
            .await
    }

    /// Polls until `done` holds, at most `limit`.
    pub async fn wait_for_within(
        &self,
        id: &str,
        limit: Duration,
        done: impl Fn(&Execution) -> bool,
    ) -> anyhow::Result<Execution> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let execution = self.execution(id).await?;
            if done(&execution) {
                return Ok(execution);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "execution {id} still {} after {limit:?}: {:?}",
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

/// The DuckDB CLI: `BATON_DUCKDB`, else the binary of the `duckdb_cli` Python package (PyPI's
/// `duckdb-cli`, which `./test.sh` installs), else `duckdb` on `PATH`.
pub fn duckdb_binary() -> PathBuf {
    if let Ok(path) = std::env::var("BATON_DUCKDB") {
        return PathBuf::from(path);
    }
    let script = "import duckdb_cli, os; print(os.path.join(os.path.dirname(duckdb_cli.__file__), 'duckdb'))";
    std::process::Command::new("python3")
        .args(["-c", script])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("duckdb"))
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
