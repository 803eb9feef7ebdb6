//! End-to-end latency figures: a flow of sequential `return` tasks, executed one at a time, on
//! SQLite and on Postgres, with one in-process worker over real gRPC.
//!
//! `cargo bench -p baton-tests --bench latency` prints, per backend, the median time from
//! creating an execution to its SUCCESS and the median cost per task (each task is two engine
//! steps: dispatch and result, each one durable commit). Kestra's Postgres backend spends
//! 55–90 ms per step (research notes), so the ratio is the figure to watch.

use std::time::{Duration, Instant};

use baton_core::execution::State;
use baton_tests::TestCluster;

const TASKS: usize = 10;
const RUNS: usize = 30;

fn flow() -> String {
    let mut yaml = String::from("id: latency\nnamespace: bench\ntasks:\n");
    for i in 0..TASKS {
        yaml.push_str(&format!(
            "  - id: t{i}\n    type: io.kestra.plugin.core.debug.Return\n    format: \"{i}\"\n"
        ));
    }
    yaml
}

async fn measure(cluster: &TestCluster) -> anyhow::Result<Vec<Duration>> {
    cluster.deploy(&flow()).await?;
    let mut times = Vec::new();
    for run in 0..RUNS + 3 {
        let start = Instant::now();
        let id = cluster.execute("bench", "latency", &[]).await?;
        let execution = cluster.wait_for(&id, |e| e.state.is_terminal()).await?;
        anyhow::ensure!(
            execution.state == State::Success,
            "run {run} ended {}",
            execution.state
        );
        if run >= 3 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    Ok(times)
}

fn report(backend: &str, times: &[Duration]) {
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    println!(
        "{backend}: {TASKS}-task flow end to end: median {:.1} ms, p90 {:.1} ms; per task {:.2} ms (median, {RUNS} runs)",
        median.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3 / TASKS as f64
    );
}

/// Executions of a one-task flow created all at once; prints task runs per second.
async fn throughput(cluster: &TestCluster, executions: usize) -> anyhow::Result<f64> {
    cluster.deploy("id: one\nnamespace: bench\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.debug.Return\n    format: x\n").await?;
    let start = Instant::now();
    let mut created = tokio::task::JoinSet::new();
    for n in 0..executions {
        let executor = cluster.nodes[n % cluster.nodes.len()].executor.clone();
        created.spawn(async move {
            let request = baton_executor::executor::NewExecution {
                namespace: "bench".into(),
                flow_id: "one".into(),
                ..Default::default()
            };
            baton_executor::executor::create_execution(&executor, request)
                .await
                .map(|e| e.id)
        });
    }
    let mut ids = Vec::new();
    while let Some(id) = created.join_next().await {
        ids.push(id??);
    }
    for id in &ids {
        let execution = cluster.wait_for(id, |e| e.state.is_terminal()).await?;
        anyhow::ensure!(
            execution.state == State::Success,
            "{id} ended {}",
            execution.state
        );
    }
    Ok(executions as f64 / start.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sqlite = TestCluster::builder().start().await?;
        report("sqlite", &measure(&sqlite).await?);
        drop(sqlite);
        let postgres = TestCluster::builder().postgres().start().await?;
        report("postgres", &measure(&postgres).await?);
        drop(postgres);
        let shared = TestCluster::builder().postgres().executors(2).workers(2).slots(16).start().await?;
        let rate = throughput(&shared, 1000).await?;
        println!("postgres, 2 executors x 2 in-process workers: 1000 one-task executions at {rate:.0} task runs/s (creation included)");
        Ok(())
    })
}
