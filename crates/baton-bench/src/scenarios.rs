//! The measured workloads: sequential flows (latency per step and dispatch latency), many
//! one-task executions at once (throughput), and a dispatch after the system sat idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use crate::api::{Api, ExecutionTimes};

pub const NAMESPACE: &str = "bench";

/// What one task of a sequential flow runs.
#[derive(Clone, Copy, Debug)]
pub enum StepKind {
    /// `io.kestra.plugin.core.log.Log`: runs inside the worker.
    Log,
    /// `io.kestra.plugin.scripts.shell.Commands` running `true` on the Process runner: a
    /// process per task.
    Shell,
}

impl StepKind {
    pub fn flow_id(self, steps: usize) -> String {
        match self {
            StepKind::Log => format!("seq_log_{steps}"),
            StepKind::Shell => format!("seq_shell_{steps}"),
        }
    }

    pub fn flow(self, steps: usize) -> String {
        let mut yaml = format!(
            "id: {}\nnamespace: {NAMESPACE}\ntasks:\n",
            self.flow_id(steps)
        );
        for i in 0..steps {
            match self {
                StepKind::Log => yaml.push_str(&format!(
                    "  - id: step{i}\n    type: io.kestra.plugin.core.log.Log\n    message: step {i}\n"
                )),
                StepKind::Shell => yaml.push_str(&format!(
                    "  - id: step{i}\n    type: io.kestra.plugin.scripts.shell.Commands\n    \
                     taskRunner:\n      type: io.kestra.plugin.core.runner.Process\n    \
                     commands:\n      - \"true\"\n"
                )),
            }
        }
        yaml
    }
}

/// The one-task flow of the throughput and idle runs.
pub const ONE_TASK_FLOW: &str = "id: one_task\nnamespace: bench\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hello\n";
pub const ONE_TASK_ID: &str = "one_task";

/// Figures of one sequential flow, several runs.
#[derive(Default)]
pub struct Sequential {
    /// Per step, ms: (ended − created) of the execution document ÷ steps, one per run.
    pub per_step: Vec<f64>,
    /// Per step, ms: the client's `POST ?wait=true` round trip ÷ steps, one per run.
    pub per_step_client: Vec<f64>,
    /// Dispatch latency of every attempt of every run, ms.
    pub dispatch: Vec<f64>,
    /// Whether the executor recorded the dispatch itself (else the attempt's creation is used).
    pub dispatch_recorded: bool,
}

/// Runs the flow `runs` times after one warm-up run, one execution at a time.
pub async fn sequential(
    api: &Api,
    kind: StepKind,
    steps: usize,
    runs: usize,
) -> anyhow::Result<Sequential> {
    api.deploy(&kind.flow(steps)).await?;
    let flow_id = kind.flow_id(steps);
    let mut out = Sequential::default();
    for run in 0..=runs {
        let (times, client) = run_once(api, &flow_id).await?;
        ensure!(
            times.attempts.len() == steps,
            "{flow_id}: {} attempts for {steps} steps",
            times.attempts.len()
        );
        if run == 0 {
            continue; // warm-up: flow caches, connections, first process spawn
        }
        out.per_step
            .push(times.duration_ms().context("no endedAt")? / steps as f64);
        out.per_step_client.push(client / steps as f64);
        out.dispatch_recorded = times.attempts.iter().all(|a| a.dispatched_at.is_some());
        out.dispatch
            .extend(times.attempts.iter().filter_map(|a| a.dispatch_ms()));
    }
    Ok(out)
}

/// One execution with `?wait=true`; its times and the client's round trip in ms.
pub async fn run_once(api: &Api, flow_id: &str) -> anyhow::Result<(ExecutionTimes, f64)> {
    let start = Instant::now();
    let document = api.trigger(NAMESPACE, flow_id, true).await?;
    let client = start.elapsed().as_secs_f64() * 1e3;
    let times = ExecutionTimes::parse(&document)?;
    ensure!(
        times.state == "SUCCESS",
        "{flow_id} execution {} ended {}",
        times.id,
        times.state
    );
    Ok((times, client))
}

pub struct Throughput {
    pub executions: usize,
    /// Task runs per second: executions ÷ (last end − first creation), from the documents.
    pub rate: f64,
    /// The same, from the client's clock: first request sent → every execution seen ended.
    pub rate_client: f64,
    /// Created → ended of each execution, ms.
    pub latency: Vec<f64>,
}

/// Creates `executions` executions of the one-task flow from `concurrency` concurrent clients,
/// then waits until all have ended.
pub async fn throughput(
    api: &Api,
    executions: usize,
    concurrency: usize,
) -> anyhow::Result<Throughput> {
    api.deploy(ONE_TASK_FLOW).await?;
    run_once(api, ONE_TASK_ID).await?; // warm-up
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (api, next) = (api.clone(), next.clone());
        clients.spawn(async move {
            let mut ids = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < executions {
                let document = api.trigger(NAMESPACE, ONE_TASK_ID, false).await?;
                ids.push(document["id"].as_str().unwrap_or_default().to_owned());
            }
            anyhow::Ok(ids)
        });
    }
    let mut ids = Vec::new();
    while let Some(created) = clients.join_next().await {
        ids.extend(created??);
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while api.any_unfinished(NAMESPACE, ONE_TASK_ID).await? {
        if Instant::now() > deadline {
            bail!("executions still running after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for chunk in ids.chunks(32) {
        let mut reads = tokio::task::JoinSet::new();
        for id in chunk {
            let (api, id) = (api.clone(), id.clone());
            reads.spawn(async move { api.execution(&id).await });
        }
        while let Some(document) = reads.join_next().await {
            all.push(ExecutionTimes::parse(&document??)?);
        }
    }
    let failed = all.iter().filter(|t| t.state != "SUCCESS").count();
    ensure!(
        failed == 0,
        "{failed} of {executions} executions did not succeed"
    );
    let first = all
        .iter()
        .map(|t| t.created_at)
        .min()
        .context("no executions")?;
    let last = all
        .iter()
        .filter_map(|t| t.ended_at)
        .max()
        .context("no ended executions")?;
    Ok(Throughput {
        executions,
        rate: executions as f64 / (crate::api::millis(last - first) / 1e3),
        rate_client: executions as f64 / elapsed,
        latency: all.iter().filter_map(ExecutionTimes::duration_ms).collect(),
    })
}

/// After `idle` without any work, one execution of the one-task flow: its dispatch latency.
pub async fn after_idle(api: &Api, idle: Duration, samples: usize) -> anyhow::Result<Vec<f64>> {
    api.deploy(ONE_TASK_FLOW).await?;
    let mut out = Vec::new();
    for _ in 0..samples {
        tokio::time::sleep(idle).await;
        let (times, _) = run_once(api, ONE_TASK_ID).await?;
        out.extend(times.attempts.iter().filter_map(|a| a.dispatch_ms()));
    }
    Ok(out)
}
