//! The executor loop: IO around the pure engine step.
//!
//! Three loops share one [`ExecutorState`]:
//! - the step loop claims `executions` messages and runs [`step::process`] for each;
//! - the dispatch loop claims `dispatch` messages and hands attempts to the worker hub;
//! - the hub loop turns worker reports into engine events, and keeps the dispatch leases of
//!   attempts with workers alive.
//!
//! Several executors may run against one Postgres: the queue's `SKIP LOCKED` claims and the
//! per-execution row lock keep them out of each other's way.

mod commands;
mod concurrency;
mod create;
mod dispatch;
mod documents;
mod flow_triggers;
mod flows;
mod messages;
mod metrics;
mod step;
mod subflow;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use baton_core::template::{RenderLimits, TemplateEngine, TemplateHost};
use baton_store::{Claimed, Store};
use tokio::sync::mpsc;

pub use commands::{kill, replay_execution, restart, resume};
pub use create::{NewExecution, create_execution, create_execution_with_id, prepare_execution};
pub use messages::{DISPATCH, EXECUTIONS, StepMessage};
pub use webhook::{WebhookOutcome, WebhookRequest, trigger_webhook};

use crate::hub::{HubEvent, WorkerHub};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] baton_store::Error),
    #[error("queue message {id} is malformed: {reason}")]
    BadMessage { id: i64, reason: String },
    #[error("execution {execution_id} has a malformed document: {reason}")]
    BadDocument {
        execution_id: String,
        reason: String,
    },
    #[error("flow {flow} revision {revision} no longer parses: {problems}")]
    InvalidFlow {
        flow: String,
        revision: i32,
        problems: String,
    },
    #[error("{0}")]
    Inputs(String),
    /// The request does not fit the execution's current state (killing an ended one…).
    #[error("{0}")]
    NotApplicable(String),
    /// Flows changed while a step ran, so its Flow trigger index is out of date; the step was
    /// rolled back and is redone after a reload.
    /// No enabled Webhook trigger answers to this flow and key (or no such flow): one error
    /// for every case, so webhook callers learn nothing about which flows exist.
    #[error("webhook not found")]
    WebhookNotFound,
    #[error("flows changed during the step; the Flow trigger index must be reloaded")]
    StaleFlowIndex,
}

#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    /// Names this executor's claims, so its leases can be renewed and told apart.
    pub consumer_id: String,
    /// Messages claimed at once.
    pub batch: u32,
    /// How long a claim holds before another executor may take it over.
    pub lease: Duration,
    /// Polling is only the fallback behind queue wake-ups.
    pub poll_interval: Duration,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            consumer_id: format!("executor-{}", uuid::Uuid::now_v7()),
            batch: 32,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Everything the loops share.
pub struct ExecutorState {
    pub store: Arc<dyn Store>,
    pub hub: WorkerHub,
    pub templates: TemplateEngine,
    pub host: Arc<dyn TemplateHost>,
    /// `envs.*` for templates the executor renders.
    pub envs: serde_json::Map<String, serde_json::Value>,
    flows: flows::FlowCache,
    documents: documents::DocumentCache,
    flow_triggers: flow_triggers::FlowTriggerIndex,
    in_flight: dispatch::InFlight,
    options: ExecutorOptions,
}

impl ExecutorState {
    pub fn new(
        store: Arc<dyn Store>,
        hub: WorkerHub,
        host: Arc<dyn TemplateHost>,
        options: ExecutorOptions,
    ) -> Self {
        // Workers reach the namespace KV store through the hub, never the database.
        hub.serve_kv(store.clone());
        Self {
            store,
            hub,
            templates: TemplateEngine::new(RenderLimits::default()),
            host,
            envs: serde_json::Map::new(),
            flows: flows::FlowCache::default(),
            documents: documents::DocumentCache::default(),
            flow_triggers: flow_triggers::FlowTriggerIndex::default(),
            in_flight: dispatch::InFlight::default(),
            options,
        }
    }
}

/// Runs the executor until `shutdown` resolves.
pub async fn run(
    state: Arc<ExecutorState>,
    hub_events: mpsc::Receiver<HubEvent>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let step_loop = tokio::spawn(claim_loop(state.clone(), EXECUTIONS, Work::Step));
    let dispatch_loop = tokio::spawn(claim_loop(state.clone(), DISPATCH, Work::Dispatch));
    let hub_loop = tokio::spawn(hub_loop(state.clone(), hub_events));
    let lease_loop = tokio::spawn(lease_loop(state.clone()));
    shutdown.await;
    for task in [step_loop, dispatch_loop, hub_loop, lease_loop] {
        task.abort();
    }
    Ok(())
}

/// Copies the execution into its store row: the document, and the columns the store indexes.
pub fn write_document(
    row: &mut baton_store::Execution,
    execution: &baton_core::execution::Execution,
) -> Result<(), Error> {
    row.state = execution.state;
    row.ended_at = execution.ended_at;
    row.labels = execution
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    row.document = serde_json::to_value(execution).map_err(|e| Error::BadDocument {
        execution_id: execution.id.clone(),
        reason: e.to_string(),
    })?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Work {
    Step,
    Dispatch,
}

async fn claim_loop(state: Arc<ExecutorState>, queue: &'static str, work: Work) {
    let options = &state.options;
    let mut wakeup = state.store.subscribe(queue).await.ok();
    loop {
        let claimed = match state
            .store
            .claim(queue, &options.consumer_id, options.batch, options.lease)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, queue, "claim failed; retrying");
                tokio::time::sleep(options.poll_interval).await;
                continue;
            }
        };
        if claimed.is_empty() {
            match &mut wakeup {
                Some(wakeup) => {
                    wakeup.wait(options.poll_interval).await;
                }
                None => tokio::time::sleep(options.poll_interval).await,
            }
            continue;
        }
        // Messages of different executions are independent; one execution's messages come one
        // at a time (the queue key), so processing them concurrently is safe.
        let handles: Vec<_> = claimed
            .into_iter()
            .map(|message| tokio::spawn(handle(state.clone(), work, message)))
            .collect();
        for handle in handles {
            let _ = handle.await;
        }
    }
}

async fn handle(state: Arc<ExecutorState>, work: Work, message: Claimed) {
    use tracing::Instrument as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    // Every log line of the work carries the execution id (the queues' key).
    let execution_id = message
        .key
        .clone()
        .or_else(|| message.payload["executionId"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let result = match work {
        Work::Step => {
            let span = tracing::info_span!("step", execution_id = %execution_id);
            // Exported traces: the step hangs under its execution's root span.
            let _ = span.set_parent(baton_proto::trace::execution_context(&execution_id));
            step::process(&state, &message).instrument(span).await
        }
        Work::Dispatch => {
            let started = std::time::Instant::now();
            let span = tracing::info_span!("dispatch", execution_id = %execution_id);
            let _ = span.set_parent(baton_proto::trace::execution_context(&execution_id));
            let result = dispatch::dispatch(&state, &message).instrument(span).await;
            ::metrics::histogram!("baton_dispatch_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            result
        }
    };
    if let Err(error) = result {
        tracing::error!(%error, message = message.id, "processing failed; the message will be retried");
        let retry_at = chrono::Utc::now() + chrono::TimeDelta::seconds(1);
        let _ = state.store.nack(message.id, retry_at).await;
    }
}

/// Worker reports, taken in batches. Each batch's log lines are written first, in one
/// statement, so a result never overtakes its own log lines; then results are stepped
/// concurrently, so executions move on in parallel and their commits share disk flushes.
async fn hub_loop(state: Arc<ExecutorState>, mut events: mpsc::Receiver<HubEvent>) {
    const BATCH: usize = 256;
    let mut batch = Vec::with_capacity(BATCH);
    while events.recv_many(&mut batch, BATCH).await > 0 {
        let mut lines = Vec::new();
        let mut reports = Vec::new();
        for event in batch.drain(..) {
            match event {
                HubEvent::Logs(mut batch_lines) => lines.append(&mut batch_lines),
                other => reports.push(other),
            }
        }
        if !lines.is_empty() {
            let started = std::time::Instant::now();
            if let Err(error) = dispatch::append_logs(&state, lines).await {
                tracing::error!(%error, "writing task run logs failed");
            }
            // `BATON_LOG=…,baton_step_timing=debug`: see docs/benchmarks.md.
            tracing::debug!(target: "baton_step_timing", logs = started.elapsed().as_micros() as u64, "log timing");
        }
        for event in reports {
            if matches!(event, HubEvent::Started { .. }) {
                // Recorded in order, before the result that may follow in this batch.
                let _ = dispatch::on_hub_event(&state, event).await;
                continue;
            }
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(error) = dispatch::on_hub_event(&state, event).await {
                    tracing::error!(%error, "recording a worker report failed");
                }
            });
        }
    }
}

/// Keeps the dispatch leases of attempts with workers alive, and requeues messages whose
/// claimer (another executor) died.
async fn lease_loop(state: Arc<ExecutorState>) {
    let period = state.options.lease / 3;
    loop {
        tokio::time::sleep(period).await;
        let ids = state.in_flight.message_ids();
        if !ids.is_empty()
            && let Err(error) = state
                .store
                .renew_leases(&state.options.consumer_id, &ids, state.options.lease)
                .await
        {
            tracing::warn!(%error, "renewing dispatch leases failed");
        }
        if let Err(error) = state.store.rescue_expired().await {
            tracing::warn!(%error, "rescuing expired claims failed");
        }
    }
}
