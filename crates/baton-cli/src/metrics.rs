//! `/metrics` in Prometheus's text format, on every role's port. The libraries record through
//! the `metrics` facade; this installs the process's one recorder and adds the gauges that are
//! read rather than recorded (queue depth, the database pool). Names and labels are listed in
//! `docs/operations.md`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use baton_store::{PgStore, Store};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// How often the read gauges are refreshed; about a scrape interval.
const REFRESH: Duration = Duration::from_secs(5);

/// Latency buckets, in seconds: from a millisecond (a step) to minutes (a queued attempt).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
        .context("invalid histogram buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// `GET /metrics`.
pub fn router(handle: PrometheusHandle) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    )
}

/// Keeps the read gauges fresh: queue depth (executor roles) and the Postgres pool.
pub fn watch_store(store: Arc<dyn Store>, pool: Option<PgStore>, queues: bool) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(REFRESH);
        loop {
            ticks.tick().await;
            if queues {
                for queue in [
                    baton_executor::executor::EXECUTIONS,
                    baton_executor::executor::DISPATCH,
                ] {
                    match store.queue_len(queue).await {
                        Ok(depth) => {
                            metrics::gauge!("baton_queue_depth", "queue" => queue).set(depth as f64)
                        }
                        Err(error) => tracing::debug!(%error, queue, "cannot read the queue depth"),
                    }
                }
            }
            if let Some(pool) = &pool {
                let (open, idle) = pool.pool_connections();
                let used = (open as usize).saturating_sub(idle);
                metrics::gauge!("baton_db_pool_connections", "state" => "idle").set(idle as f64);
                metrics::gauge!("baton_db_pool_connections", "state" => "used").set(used as f64);
            }
        }
    });
}

/// Records each fire the scheduler reports: how late it was (fire date → execution
/// committed) for Schedule triggers, and a count per kind (`schedule`, `backfill`). A backfill's
/// dates are in the past by design, so they have no lateness.
pub async fn record_fires(
    mut fires: tokio::sync::mpsc::UnboundedReceiver<baton_scheduler::FireReport>,
) {
    while let Some(fire) = fires.recv().await {
        let kind = if fire.backfill_id.is_some() {
            "backfill"
        } else {
            let late = (fire.committed_at - fire.date).to_std().unwrap_or_default();
            metrics::histogram!("baton_schedule_lateness_seconds").record(late.as_secs_f64());
            "schedule"
        };
        metrics::counter!("baton_trigger_fires_total", "kind" => kind).increment(1);
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "baton_executions_created_total",
        "Executions created (API, UI, subflows excluded)"
    );
    describe_counter!(
        "baton_executions_ended_total",
        "Executions that reached an end state, by state"
    );
    describe_counter!(
        "baton_task_runs_ended_total",
        "Task runs that reached an end state, by state"
    );
    describe_histogram!(
        "baton_step_duration_seconds",
        metrics::Unit::Seconds,
        "One engine step: lock, step, commit"
    );
    describe_histogram!(
        "baton_dispatch_duration_seconds",
        metrics::Unit::Seconds,
        "Handling one dispatch message: hand an attempt to the hub"
    );
    describe_histogram!(
        "baton_dispatch_latency_seconds",
        metrics::Unit::Seconds,
        "From an attempt's creation to its start on a worker"
    );
    describe_histogram!(
        "baton_schedule_lateness_seconds",
        metrics::Unit::Seconds,
        "From a Schedule trigger's fire date to its execution committed (cron lateness)"
    );
    describe_counter!(
        "baton_trigger_fires_total",
        "Executions the scheduler created, by kind (schedule, backfill)"
    );
    describe_counter!(
        "baton_lease_expiries_total",
        "Task run leases that ran out (the worker vanished or stopped reporting)"
    );
    describe_gauge!(
        "baton_queue_depth",
        "Messages waiting in a queue (executions, dispatch)"
    );
    describe_gauge!(
        "baton_db_pool_connections",
        "Postgres pool connections, by state (idle, used)"
    );
    describe_gauge!(
        "baton_worker_slots",
        "Task runs this worker may run at once"
    );
    describe_gauge!("baton_worker_slots_busy", "Task runs this worker runs now");
    describe_gauge!(
        "baton_worker_connected",
        "1 while this worker holds a stream to an executor"
    );
}
