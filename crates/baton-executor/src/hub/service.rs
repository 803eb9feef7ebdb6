//! The `WorkerService` gRPC service: authenticates a worker, reads its stream and feeds the hub.

use std::time::Duration;

use baton_proto::v1::{
    self, ExecutorMessage, WorkerMessage, executor_message::Message as Out,
    worker_message::Message as In, worker_service_server::WorkerService,
};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{LogLevel, LogLine, TaskResult, TaskState, WorkerHub};

/// How long a new stream may take to say Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct HubService {
    hub: WorkerHub,
}

impl HubService {
    pub(crate) fn new(hub: WorkerHub) -> Self {
        HubService { hub }
    }
}

#[tonic::async_trait]
impl WorkerService for HubService {
    type ConnectStream = UnboundedReceiverStream<Result<ExecutorMessage, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<WorkerMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        authenticate(&request, &self.hub.options().token)?;
        let mut inbound = request.into_inner();
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
            Ok(Ok(Some(WorkerMessage {
                message: Some(In::Hello(hello)),
            }))) => hello,
            Ok(Err(status)) => return Err(status),
            _ => {
                return Err(Status::invalid_argument(
                    "the first message on the stream must be Hello",
                ));
            }
        };
        let (outbox, responses) = mpsc::unbounded_channel();
        if let Some(reason) = refusal(&hello) {
            tracing::warn!(worker_id = %hello.worker_id, %reason, "worker rejected");
            let _ = outbox.send(Ok(ExecutorMessage {
                message: Some(Out::Reject(v1::Reject { reason })),
            }));
            return Ok(Response::new(UnboundedReceiverStream::new(responses)));
        }
        let options = self.hub.options();
        let _ = outbox.send(Ok(ExecutorMessage {
            message: Some(Out::Welcome(v1::Welcome {
                lease_ms: millis(options.lease),
                heartbeat_ms: millis(options.heartbeat),
            })),
        }));
        let worker_id = hello.worker_id.clone();
        let connection = self.hub.lock().connect(
            &worker_id,
            hello.worker_group.clone(),
            hello.slots,
            outbox.clone(),
            &hello.running,
        );
        tracing::info!(%worker_id, slots = hello.slots, group = ?hello.worker_group, "worker connected");
        let hub = self.hub.clone();
        tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(message)) => handle(&hub, &worker_id, connection, &outbox, message),
                    Ok(None) => break,
                    Err(status) => {
                        tracing::info!(%worker_id, %status, "worker stream broke");
                        break;
                    }
                }
            }
            hub.lock().disconnect(&worker_id, connection);
            tracing::info!(%worker_id, "worker disconnected");
        });
        Ok(Response::new(UnboundedReceiverStream::new(responses)))
    }
}

fn handle(
    hub: &WorkerHub,
    worker_id: &str,
    connection: u64,
    outbox: &super::state::Outbox,
    message: WorkerMessage,
) {
    let mut state = hub.lock();
    state.seen(worker_id, connection);
    match message.message {
        Some(In::Heartbeat(heartbeat)) => state.renew(worker_id, connection, &heartbeat.running),
        Some(In::LogBatch(batch)) => state.logs(batch.lines.into_iter().map(log_line).collect()),
        Some(In::TaskResult(result)) => {
            let ack = ExecutorMessage {
                message: Some(Out::ResultAck(v1::ResultAck {
                    task_run_id: result.task_run_id.clone(),
                    attempt: result.attempt,
                })),
            };
            let (task_run_id, attempt) = (result.task_run_id.clone(), result.attempt);
            if !state.finish(task_result(worker_id, result)) {
                tracing::info!(%worker_id, %task_run_id, attempt, "dropped the result of a task run the worker no longer holds");
            }
            let _ = outbox.send(Ok(ack));
        }
        Some(In::HandBack(hand_back)) => {
            state.hand_back(worker_id, &hand_back.task_run_id, hand_back.attempt);
        }
        Some(In::Hello(_)) | None => {}
    }
}

/// Checks `authorization: Bearer <token>`.
fn authenticate(request: &Request<Streaming<WorkerMessage>>, token: &str) -> Result<(), Status> {
    let presented = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
    if constant_time_eq(presented.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(Status::unauthenticated("invalid token"))
    }
}

/// Compares without returning early, so timing does not reveal how much of the token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refusal(hello: &v1::Hello) -> Option<String> {
    if hello.worker_id.is_empty() {
        return Some("the worker id is empty".to_owned());
    }
    if hello.slots == 0 {
        return Some("a worker needs at least one slot".to_owned());
    }
    let ours = env!("CARGO_PKG_VERSION").split('.').next();
    if hello.version.split('.').next() != ours {
        return Some(format!(
            "worker version {} is incompatible with executor version {}",
            hello.version,
            env!("CARGO_PKG_VERSION")
        ));
    }
    None
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn log_line(line: v1::LogLine) -> LogLine {
    let level = match v1::LogLevel::try_from(line.level).unwrap_or(v1::LogLevel::Info) {
        v1::LogLevel::Trace => LogLevel::Trace,
        v1::LogLevel::Debug => LogLevel::Debug,
        v1::LogLevel::Warn => LogLevel::Warn,
        v1::LogLevel::Error => LogLevel::Error,
        v1::LogLevel::Info | v1::LogLevel::Unspecified => LogLevel::Info,
    };
    LogLine {
        task_run_id: line.task_run_id,
        attempt: line.attempt,
        level,
        timestamp: time(line.timestamp_ms),
        message: line.message,
    }
}

fn task_result(worker_id: &str, result: v1::TaskResult) -> TaskResult {
    let state = match v1::TaskState::try_from(result.state).unwrap_or(v1::TaskState::Failed) {
        v1::TaskState::Success => TaskState::Success,
        v1::TaskState::Warning => TaskState::Warning,
        v1::TaskState::Killed => TaskState::Killed,
        v1::TaskState::Failed | v1::TaskState::Unspecified => TaskState::Failed,
    };
    let outputs = serde_json::from_str(&result.outputs_json)
        .ok()
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    TaskResult {
        task_run_id: result.task_run_id,
        attempt: result.attempt,
        worker_id: worker_id.to_owned(),
        state,
        outputs,
        error_message: Some(result.error_message).filter(|m| !m.is_empty()),
        started_at: match result.started_at_us {
            0 => time(result.started_at_ms),
            us => DateTime::from_timestamp_micros(us).unwrap_or_default(),
        },
        ended_at: time(result.ended_at_ms),
    }
}
