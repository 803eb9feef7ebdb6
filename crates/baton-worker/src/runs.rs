//! Task runs on this worker: the flow cache, starting a run in its own tokio task, and the
//! messages that come back from it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use baton_core::flow::Flow;
use baton_core::flow::task::LogLevel;
use baton_core::parse::FlowParser;
use baton_core::template::{RenderLimits, TemplateEngine};
use baton_proto::v1;
use baton_storage::Storage;
use baton_tasks::kv::KvAccess;
use baton_tasks::{DockerEngine, LogSink, RunContext, TaskOutcome, TaskState};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio_util::sync::CancellationToken;

use crate::host::WorkerHost;

/// What a running task run sends back to the worker's loop.
pub(crate) enum RunEvent {
    Log(v1::LogLine),
    Done(v1::TaskResult),
}

/// A task run in progress.
pub(crate) struct Running {
    pub attempt: u32,
    pub cancel: CancellationToken,
    /// Set when the worker gives the run back instead of reporting it (drain grace elapsed).
    pub hand_back: bool,
}

/// Parses flows once per revision and starts task runs.
pub(crate) struct Runner {
    parser: FlowParser,
    flows: HashMap<(String, String, u32), Arc<Flow>>,
    engine: Arc<TemplateEngine>,
    host: WorkerHost,
    storage: Option<Storage>,
    work_dir: PathBuf,
    docker: Arc<DockerEngine>,
    kv: Arc<dyn KvAccess>,
    duckdb: PathBuf,
    events: UnboundedSender<RunEvent>,
}

impl Runner {
    pub(crate) fn new(
        host: WorkerHost,
        storage: Option<Storage>,
        work_dir: PathBuf,
        docker: Arc<DockerEngine>,
        kv: Arc<dyn KvAccess>,
        duckdb: PathBuf,
        events: UnboundedSender<RunEvent>,
    ) -> Self {
        Runner {
            parser: FlowParser::default(),
            flows: HashMap::new(),
            engine: Arc::new(TemplateEngine::new(RenderLimits::default())),
            host,
            storage,
            work_dir,
            docker,
            kv,
            duckdb,
            events,
        }
    }

    /// Starts the assignment in its own task; its logs and result arrive as [`RunEvent`]s.
    pub(crate) fn start(&mut self, assign: v1::Assign) -> Running {
        let cancel = CancellationToken::new();
        let running = Running {
            attempt: assign.attempt,
            cancel: cancel.clone(),
            hand_back: false,
        };
        let started_at = chrono::Utc::now();
        let prepared = self.prepare(&assign);
        let events = self.events.clone();
        let engine = Arc::clone(&self.engine);
        // `read()` in this run's templates reads only files of its flow's namespace.
        let namespace = assign.flow.as_ref().map_or("", |f| f.namespace.as_str());
        let host = Arc::new(self.host.for_namespace(namespace));
        let storage = self.storage.clone();
        let work_dir = self.work_dir.clone();
        let docker = Arc::clone(&self.docker);
        let kv = Arc::clone(&self.kv);
        let duckdb = self.duckdb.clone();
        // One span per attempt: log lines (JSON logs) and exported traces carry these ids.
        let span = tracing::info_span!(
            "task_run",
            execution_id = %assign.execution_id,
            task_run_id = %assign.task_run_id,
            task_id = %assign.task_id,
            attempt = assign.attempt,
        );
        // Exported traces: the attempt hangs under its execution's root span, whichever worker
        // runs it.
        let _ = tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(
            &span,
            baton_proto::trace::execution_context(&assign.execution_id),
        );
        let run = async move {
            let (task_run_id, attempt) = (assign.task_run_id.clone(), assign.attempt);
            let outcome = match prepared {
                Err(error) => TaskOutcome::failed(error),
                Ok((flow, context)) => {
                    let (log_tx, mut log_rx) = mpsc::unbounded_channel::<baton_tasks::TaskLog>();
                    let forward_events = events.clone();
                    let (id, at) = (task_run_id.clone(), attempt);
                    let masking = Arc::clone(&host);
                    let forward = tokio::spawn(async move {
                        while let Some(mut log) = log_rx.recv().await {
                            // Secret values the run's templates read never leave the worker.
                            log.message = masking.mask(&log.message);
                            let _ = forward_events.send(RunEvent::Log(log_line(&id, at, log)));
                        }
                    });
                    let run = RunContext {
                        engine,
                        host: Arc::clone(&host) as Arc<dyn baton_core::template::TemplateHost>,
                        context,
                        logs: LogSink::new(log_tx),
                        work_root: work_dir,
                        docker,
                        storage,
                        kv,
                        duckdb,
                    };
                    let outcome = match flow.find_task(&assign.task_id) {
                        Some(task) => baton_tasks::run_task(task, &run, &cancel).await,
                        None => TaskOutcome::failed(format!(
                            "task {} is not in flow {}.{} revision {}",
                            assign.task_id,
                            flow.namespace,
                            flow.id,
                            assign.flow.as_ref().map_or(0, |f| f.revision)
                        )),
                    };
                    // Every log line goes out before the result.
                    drop(run);
                    let _ = forward.await;
                    TaskOutcome {
                        outputs: host.mask_json(&outcome.outputs),
                        error: outcome.error.map(|e| host.mask(&e)),
                        ..outcome
                    }
                }
            };
            let result = result(&task_run_id, attempt, outcome, started_at);
            // Inside the attempt's span: a JSON log line carries its execution and task run ids.
            tracing::info!(
                state = ?v1::TaskState::try_from(result.state).unwrap_or_default(),
                duration_ms = result.ended_at_ms - result.started_at_ms,
                "task run attempt ended"
            );
            let _ = events.send(RunEvent::Done(result));
        };
        tokio::spawn(tracing::Instrument::instrument(run, span));
        running
    }

    fn prepare(&mut self, assign: &v1::Assign) -> Result<(Arc<Flow>, serde_json::Value), String> {
        let source = assign.flow.as_ref().ok_or("the assignment names no flow")?;
        let key = (source.namespace.clone(), source.id.clone(), source.revision);
        let flow = match self.flows.get(&key) {
            Some(flow) if source.source.is_empty() => Arc::clone(flow),
            _ if source.source.is_empty() => {
                return Err(format!(
                    "flow {}.{} revision {} was not sent to this worker",
                    source.namespace, source.id, source.revision
                ));
            }
            _ => {
                let parsed = self.parser.parse(&source.source);
                let Some(flow) = parsed.flow else {
                    let errors: Vec<String> = parsed
                        .errors()
                        .map(|d| d.display_in("flow").to_string())
                        .collect();
                    return Err(format!(
                        "flow {}.{} revision {} is invalid: {}",
                        source.namespace,
                        source.id,
                        source.revision,
                        errors.join("; ")
                    ));
                };
                let flow = Arc::new(flow);
                self.flows.insert(key, Arc::clone(&flow));
                flow
            }
        };
        let context = if assign.context_json.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_str(&assign.context_json)
                .map_err(|e| format!("the task run's context is not valid JSON: {e}"))?
        };
        Ok((flow, context))
    }
}

fn log_line(task_run_id: &str, attempt: u32, log: baton_tasks::TaskLog) -> v1::LogLine {
    let level = match log.level {
        LogLevel::Trace => v1::LogLevel::Trace,
        LogLevel::Debug => v1::LogLevel::Debug,
        LogLevel::Info => v1::LogLevel::Info,
        LogLevel::Warn => v1::LogLevel::Warn,
        LogLevel::Error => v1::LogLevel::Error,
    };
    v1::LogLine {
        task_run_id: task_run_id.to_owned(),
        attempt,
        level: level as i32,
        timestamp_ms: log.timestamp.timestamp_millis(),
        message: log.message,
    }
}

fn result(
    task_run_id: &str,
    attempt: u32,
    outcome: TaskOutcome,
    started_at: chrono::DateTime<chrono::Utc>,
) -> v1::TaskResult {
    let state = match outcome.state {
        TaskState::Success => v1::TaskState::Success,
        TaskState::Warning => v1::TaskState::Warning,
        TaskState::Failed => v1::TaskState::Failed,
        TaskState::Killed => v1::TaskState::Killed,
    };
    v1::TaskResult {
        task_run_id: task_run_id.to_owned(),
        attempt,
        state: state as i32,
        outputs_json: outcome.outputs.to_string(),
        error_message: outcome.error.unwrap_or_default(),
        started_at_ms: started_at.timestamp_millis(),
        started_at_us: started_at.timestamp_micros(),
        ended_at_ms: chrono::Utc::now().timestamp_millis(),
    }
}
