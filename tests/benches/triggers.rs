//! Figures for flow concurrency limits and Flow triggers, on SQLite and on Postgres, with one
//! executor and one in-process worker over real gRPC.
//!
//! `cargo bench -p baton-tests --bench triggers` prints, per backend:
//! - the hand-off of a concurrency slot: a burst of executions of a `limit: 1` flow runs one at
//!   a time; the gap from one execution's end to the next one's RUNNING (the release, the
//!   promotion and the woken execution's first step), median and p99;
//! - the cost of the limit on a lone execution: creation to SUCCESS with and without
//!   `concurrency` (median), i.e. what taking and freeing a slot adds;
//! - a Flow trigger's delay: upstream end to the triggered execution's RUNNING (median, p99).

use std::time::{Duration, Instant};

use baton_core::execution::{Execution, State};
use baton_store::ExecutionFilter;
use baton_tests::TestCluster;
use chrono::{DateTime, Utc};

const BURST: usize = 100;
const RUNS: usize = 30;

const ONE_TASK: &str =
    "tasks:\n  - id: t\n    type: io.kestra.plugin.core.debug.Return\n    format: x\n";

async fn all_of(cluster: &TestCluster, flow: &str) -> anyhow::Result<Vec<Execution>> {
    let filter = ExecutionFilter {
        namespace: Some("bench".into()),
        flow_id: Some(flow.into()),
        ..ExecutionFilter::default()
    };
    let page = cluster.store.list_executions(&filter, None, 10_000).await?;
    page.items
        .into_iter()
        .map(|row| Ok(serde_json::from_value(row.document)?))
        .collect()
}

async fn until_all_ended(
    cluster: &TestCluster,
    flow: &str,
    count: usize,
) -> anyhow::Result<Vec<Execution>> {
    loop {
        let all = all_of(cluster, flow).await?;
        if all.len() >= count && all.iter().all(|e| e.state.is_terminal()) {
            return Ok(all);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn running_at(execution: &Execution) -> Option<DateTime<Utc>> {
    execution
        .history
        .iter()
        .find(|c| c.state == State::Running)
        .map(|c| c.at)
}

fn millis(mut gaps: Vec<f64>) -> (f64, f64) {
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    let p99 = gaps[(gaps.len() * 99 / 100).min(gaps.len() - 1)];
    (median, p99)
}

async fn slot_handoff(cluster: &TestCluster) -> anyhow::Result<(f64, f64)> {
    cluster
        .deploy(&format!(
            "id: limited\nnamespace: bench\nconcurrency:\n  limit: 1\n{ONE_TASK}"
        ))
        .await?;
    for _ in 0..BURST {
        cluster.execute("bench", "limited", &[]).await?;
    }
    let mut all = until_all_ended(cluster, "limited", BURST).await?;
    anyhow::ensure!(all.iter().all(|e| e.state == State::Success));
    all.sort_by_key(running_at);
    let gaps = all
        .windows(2)
        .filter_map(|pair| {
            let ended = pair[0].ended_at?;
            let next = running_at(&pair[1])?;
            Some((next - ended).as_seconds_f64() * 1e3)
        })
        .collect();
    Ok(millis(gaps))
}

async fn lone_execution(cluster: &TestCluster, flow: &str) -> anyhow::Result<f64> {
    let mut times = Vec::new();
    for run in 0..RUNS + 3 {
        let start = Instant::now();
        let id = cluster.execute("bench", flow, &[]).await?;
        let execution = cluster.wait_for(&id, |e| e.state.is_terminal()).await?;
        anyhow::ensure!(execution.state == State::Success);
        if run >= 3 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(millis(times).0)
}

async fn trigger_delay(cluster: &TestCluster) -> anyhow::Result<(f64, f64)> {
    cluster
        .deploy(&format!("id: upstream\nnamespace: bench\n{ONE_TASK}"))
        .await?;
    cluster
        .deploy(&format!(
            "id: downstream\nnamespace: bench\n{ONE_TASK}triggers:\n  - id: after\n    type: io.kestra.plugin.core.trigger.Flow\n    conditions:\n      - type: io.kestra.plugin.core.condition.ExecutionFlow\n        namespace: bench\n        flowId: upstream\n"
        ))
        .await?;
    for _ in 0..RUNS {
        let id = cluster.execute("bench", "upstream", &[]).await?;
        cluster.wait_until_ended(&id).await?;
    }
    let upstream = until_all_ended(cluster, "upstream", RUNS).await?;
    let downstream = until_all_ended(cluster, "downstream", RUNS).await?;
    let gaps = downstream
        .iter()
        .filter_map(|d| {
            let parent = d.trigger.as_ref()?["executionId"].as_str()?.to_owned();
            let ended = upstream.iter().find(|u| u.id == parent)?.ended_at?;
            Some((running_at(d)? - ended).as_seconds_f64() * 1e3)
        })
        .collect();
    Ok(millis(gaps))
}

async fn bench(backend: &str, cluster: TestCluster) -> anyhow::Result<()> {
    let (median, p99) = slot_handoff(&cluster).await?;
    println!(
        "{backend}: concurrency limit 1, {BURST} executions at once: slot hand-off (end → next RUNNING) median {median:.2} ms, p99 {p99:.2} ms"
    );
    cluster
        .deploy(&format!("id: free\nnamespace: bench\n{ONE_TASK}"))
        .await?;
    let free = lone_execution(&cluster, "free").await?;
    let limited = lone_execution(&cluster, "limited").await?;
    println!(
        "{backend}: one-task execution end to end: median {free:.2} ms without a limit, {limited:.2} ms with `limit: 1` ({RUNS} runs)"
    );
    let (median, p99) = trigger_delay(&cluster).await?;
    println!(
        "{backend}: Flow trigger, upstream end → triggered RUNNING: median {median:.2} ms, p99 {p99:.2} ms ({RUNS} runs)"
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    bench("sqlite", TestCluster::builder().start().await?).await?;
    bench("postgres", TestCluster::builder().postgres().start().await?).await?;
    Ok(())
}
