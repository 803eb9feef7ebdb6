//! Scheduler figures on Postgres.
//!
//! `cargo bench -p baton-tests --bench scheduler` prints:
//! - how long a scheduler takes from start to an armed timer with 10,000 Schedule triggers:
//!   cold (it parses the 10,000 flows and writes their trigger rows) and warm (the rows exist,
//!   as after a restart or for a second replica);
//! - fire lateness, from a trigger's fire date to its execution row committed (the scheduler's
//!   clock read once the committing call returned), median, p99 and max over 1,000 fires (each
//!   trigger fires once; `BENCH_FIRES_PER_SECOND` of them share each second, 25 by default).
//!   The triggers due at one second fire together, in one statement and one durable commit;
//!   the executors' wake-up (a NOTIFY sent after the commit, on its own) is not counted.
//!
//! Only the store and the scheduler run: no executor competes for the CPU.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_executor::executor::{ExecutorOptions, ExecutorState};
use baton_executor::hub::{HubOptions, WorkerHub};
use baton_scheduler::{FireReport, Scheduler, SchedulerOptions, SystemClock};
use baton_store::{PgStore, PgStoreOptions, Store};
use chrono::{DateTime, TimeDelta, Timelike, Utc};
use tokio::sync::{mpsc, oneshot};

const SCHEDULES: usize = 10_000;
const FIRES: usize = 1_000;

async fn store() -> anyhow::Result<Arc<dyn Store>> {
    let url = baton_store::testing::PgServer::get()
        .fresh_database_url()
        .await;
    let store = PgStore::connect(PgStoreOptions::from_url(&url)?);
    store.migrate().await?;
    Ok(Arc::new(store))
}

fn executor(store: Arc<dyn Store>) -> Arc<ExecutorState> {
    // The hub is never served: the scheduler only builds executions with the executor state.
    let (hub, _events) = WorkerHub::new(HubOptions {
        token: String::new(),
        lease: Duration::from_secs(30),
        heartbeat: Duration::from_secs(5),
    });
    let host = Arc::new(baton_worker::WorkerHost::new(HashMap::new()));
    Arc::new(ExecutorState::new(
        store,
        hub,
        host,
        ExecutorOptions::default(),
    ))
}

fn flow(n: usize, cron: &str) -> String {
    format!(
        "id: f{n}\nnamespace: bench.scheduler\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: hi\ntriggers:\n  - id: s\n    type: io.kestra.plugin.core.trigger.Schedule\n    withSeconds: true\n    cron: \"{cron}\"\n"
    )
}

/// Deploys flows eight at a time (setup, not measured).
async fn deploy(store: &Arc<dyn Store>, flows: Vec<String>) -> anyhow::Result<()> {
    let mut pending = tokio::task::JoinSet::new();
    for (n, source) in flows.into_iter().enumerate() {
        if pending.len() == 8 {
            pending.join_next().await.transpose()?.transpose()?;
        }
        let store = store.clone();
        pending.spawn(async move {
            store
                .deploy_flow("bench.scheduler", &format!("f{n}"), &source, false)
                .await
                .map(|_| ())
        });
    }
    while let Some(done) = pending.join_next().await {
        done??;
    }
    Ok(())
}

/// Starts a scheduler and returns how long it took to arm, and how many triggers it armed.
async fn arm(
    executor: &Arc<ExecutorState>,
    reports: Option<mpsc::UnboundedSender<FireReport>>,
) -> anyhow::Result<(Duration, usize, oneshot::Sender<()>)> {
    let (ready, armed) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let mut scheduler = Scheduler::new(
        executor.clone(),
        Arc::new(SystemClock::default()),
        SchedulerOptions::default(),
    )
    .with_ready(ready);
    if let Some(reports) = reports {
        scheduler = scheduler.with_reports(reports);
    }
    let start = Instant::now();
    tokio::spawn(scheduler.run(async {
        let _ = stopped.await;
    }));
    let armed = armed.await?;
    Ok((start.elapsed(), armed.armed, stop))
}

async fn load_and_arm() -> anyhow::Result<()> {
    let store = store().await?;
    // Every trigger armed and none due during the measure: second 0 of minute 0 of 01:00 on
    // the 1st of January, plus a spread of minutes.
    let flows = (0..SCHEDULES)
        .map(|n| flow(n, &format!("0 {} 1 1 1 *", n % 60)))
        .collect();
    deploy(&store, flows).await?;
    let executor = executor(store.clone());
    let (cold, armed, stop) = arm(&executor, None).await?;
    let _ = stop.send(());
    anyhow::ensure!(armed == SCHEDULES, "armed {armed} of {SCHEDULES}");
    let mut warm = Vec::new();
    for _ in 0..5 {
        let (took, armed, stop) = arm(&executor, None).await?;
        let _ = stop.send(());
        anyhow::ensure!(armed == SCHEDULES, "armed {armed} of {SCHEDULES}");
        warm.push(took);
    }
    warm.sort();
    println!(
        "{SCHEDULES} schedules loaded and armed: cold (parse flows, write trigger rows) {:.0} ms; warm (rows exist) median {:.0} ms of 5",
        cold.as_secs_f64() * 1e3,
        warm[2].as_secs_f64() * 1e3
    );
    Ok(())
}

/// A cron naming one instant: second, minute, hour, day and month.
fn once_at(at: DateTime<Utc>) -> String {
    format!(
        "{} {} {} {} {} *",
        at.second(),
        at.minute(),
        at.hour(),
        at.format("%-d"),
        at.format("%-m")
    )
}

async fn lateness() -> anyhow::Result<()> {
    let per_second: usize = std::env::var("BENCH_FIRES_PER_SECOND")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let store = store().await?;
    let seconds = FIRES.div_ceil(per_second);
    // Far enough ahead to deploy and arm first.
    let start = (Utc::now() + TimeDelta::seconds(30))
        .with_nanosecond(0)
        .unwrap();
    let flows = (0..FIRES)
        .map(|n| {
            let at = start + TimeDelta::seconds(i64::try_from(n % seconds).unwrap());
            flow(n, &once_at(at))
        })
        .collect();
    deploy(&store, flows).await?;
    anyhow::ensure!(
        Utc::now() < start,
        "deploying took too long; fires would be late"
    );
    let executor = executor(store.clone());
    let (reports, mut received) = mpsc::unbounded_channel();
    let (_, _, _stop) = arm(&executor, Some(reports)).await?;
    let mut late = Vec::with_capacity(FIRES);
    while late.len() < FIRES {
        let report = tokio::time::timeout(Duration::from_secs(120), received.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the scheduler stopped"))?;
        late.push(
            (report.committed_at - report.date)
                .to_std()
                .unwrap_or_default(),
        );
    }
    late.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "fire lateness (fire date -> execution committed) over {FIRES} fires, {per_second} per second: median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(late[FIRES / 2]),
        ms(late[FIRES * 99 / 100]),
        ms(late[FIRES - 1])
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        load_and_arm().await?;
        lateness().await
    })
}
