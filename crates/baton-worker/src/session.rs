//! The worker's loop: one stream to the executor at a time, reconnecting with backoff, with
//! task runs that keep running across reconnects and a drain on shutdown.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use baton_proto::v1::{
    self, ExecutorMessage, WorkerMessage, executor_message::Message as In,
    worker_message::Message as Out, worker_service_client::WorkerServiceClient,
};
use baton_tasks::DockerEngine;
use baton_tasks::docker::Owner;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::{Instant, sleep_until};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Endpoint;

use crate::host::WorkerHost;
use crate::kv::KvClient;
use crate::runs::{RunEvent, Runner, Running};
use crate::{Error, WorkerOptions};

/// Log lines are sent at least this often…
const LOG_FLUSH_EVERY: Duration = Duration::from_millis(50);
/// …or as soon as this many are waiting.
const LOG_BATCH_LINES: usize = 100;
/// While disconnected, at most this many log lines wait; older ones are dropped first.
const MAX_PENDING_LOGS: usize = 10_000;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// After the drain grace, how long to wait for the executor to take the last results.
const FINAL_ACK_WAIT: Duration = Duration::from_secs(5);
/// How long the executor has to close the stream after the worker closed its side.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

type Shutdown<'a> = Pin<&'a mut (dyn Future<Output = ()> + Send)>;

/// What [`Worker::absorb`] recorded.
enum Absorbed {
    Log,
    Result,
    HandBack,
}

/// How one stream ended.
enum SessionEnd {
    /// Drained: the worker is done.
    Done,
    Broken(String),
    Fatal(Error),
}

pub(crate) struct Worker {
    options: WorkerOptions,
    endpoint: Endpoint,
    runner: Runner,
    docker: Arc<DockerEngine>,
    events: UnboundedReceiver<RunEvent>,
    /// Task runs' KV calls, answered over the stream.
    kv: KvClient,
    /// KV calls waiting to be written to a stream.
    kv_calls: UnboundedReceiver<v1::KvCall>,
    runs: HashMap<String, Running>,
    pending_logs: VecDeque<v1::LogLine>,
    /// Results sent (or waiting to be sent) and not yet acknowledged by the executor.
    unacked: Vec<v1::TaskResult>,
    /// Hand-backs waiting for a stream to go out on.
    hand_backs: Vec<v1::HandBack>,
    /// Set once shutdown began: the moment running task runs get killed and handed back.
    drain_deadline: Option<Instant>,
    /// The grace ran out and what still ran was killed. A flag, not a clock check: a select
    /// that handled another branch just as the deadline passed must still hand back.
    grace_spent: bool,
}

impl Worker {
    pub(crate) fn new(options: WorkerOptions) -> Result<Self, Error> {
        let endpoint = Endpoint::from_shared(options.executor_url.clone())
            .map_err(|e| Error::InvalidUrl {
                url: options.executor_url.clone(),
                reason: e.to_string(),
            })?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(10));
        let (events_tx, events) = mpsc::unbounded_channel();
        let (kv, kv_calls) = KvClient::new();
        let host = WorkerHost::new(options.secrets.clone())
            .with_storage(options.storage.clone())
            .with_kv(Arc::new(kv.clone()));
        let docker = Arc::new(DockerEngine::new(
            options.docker.clone(),
            Owner::this_process(options.worker_id.clone()),
        ));
        let runner = Runner::new(
            host,
            options.storage.clone(),
            options.work_dir.clone(),
            Arc::clone(&docker),
            Arc::new(kv.clone()),
            options.duckdb.clone(),
            events_tx,
        );
        Ok(Worker {
            options,
            endpoint,
            runner,
            docker,
            events,
            kv,
            kv_calls,
            runs: HashMap::new(),
            pending_logs: VecDeque::new(),
            unacked: Vec::new(),
            hand_backs: Vec::new(),
            drain_deadline: None,
            grace_spent: false,
        })
    }

    pub(crate) async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let docker = Arc::clone(&self.docker);
        let result = self.serve(shutdown).await;
        // Containers that exited are removed in the background; none outlives the worker.
        docker.removals_finished().await;
        result
    }

    async fn serve(mut self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut shutdown: Shutdown<'_> = shutdown.as_mut();
        sweep_orphans(Arc::clone(&self.docker));
        metrics::gauge!("baton_worker_slots").set(f64::from(self.options.slots));
        self.options.status.set_busy(0);
        let mut backoff = BACKOFF_MIN;
        loop {
            let (end, welcomed) = self.session(shutdown.as_mut()).await;
            self.options.status.set_connected(false);
            match end {
                SessionEnd::Done => return Ok(()),
                SessionEnd::Fatal(error) => {
                    for run in self.runs.values() {
                        run.cancel.cancel();
                    }
                    return Err(error);
                }
                SessionEnd::Broken(reason) => {
                    tracing::warn!(%reason, retry_in = ?backoff, "executor stream broke");
                    self.kv.stream_broke();
                }
            }
            if welcomed {
                backoff = BACKOFF_MIN;
            }
            if self.idle(backoff, shutdown.as_mut()).await {
                return Ok(());
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    fn draining(&self) -> bool {
        self.drain_deadline.is_some()
    }

    fn start_drain(&mut self) {
        if self.drain_deadline.is_none() {
            tracing::info!(running = self.runs.len(), grace = ?self.options.drain_grace, "draining");
            self.drain_deadline = Some(Instant::now() + self.options.drain_grace);
        }
    }

    /// The drain grace ran out: kill what still runs; each is handed back when it stops.
    fn hand_back_all(&mut self) {
        self.grace_spent = true;
        for run in self.runs.values_mut() {
            if !run.hand_back {
                run.hand_back = true;
                run.cancel.cancel();
            }
        }
    }

    /// Whether the drain deadline is still to be acted on.
    fn grace_pending(&self) -> bool {
        self.drain_deadline.is_some() && !self.grace_spent
    }

    /// Drained: nothing runs, and every result was taken (or waiting longer is pointless).
    fn finished(&self, connected: bool) -> bool {
        let Some(deadline) = self.drain_deadline else {
            return false;
        };
        if !self.runs.is_empty() {
            return false;
        }
        let nothing_pending = self.unacked.is_empty() && self.hand_backs.is_empty();
        let now = Instant::now();
        nothing_pending || now >= deadline + FINAL_ACK_WAIT || (!connected && now >= deadline)
    }

    /// Records an event of a run: a log line waits for the next batch; a result waits for its
    /// ack (a run given back waits to be handed back instead).
    fn absorb(&mut self, event: RunEvent) -> Absorbed {
        match event {
            RunEvent::Log(line) => {
                if self.pending_logs.len() >= MAX_PENDING_LOGS {
                    self.pending_logs.pop_front();
                }
                self.pending_logs.push_back(line);
                Absorbed::Log
            }
            RunEvent::Done(result) => {
                let handed_back = self
                    .runs
                    .get(&result.task_run_id)
                    .is_some_and(|r| r.attempt == result.attempt && r.hand_back);
                if self
                    .runs
                    .get(&result.task_run_id)
                    .is_some_and(|r| r.attempt == result.attempt)
                {
                    self.runs.remove(&result.task_run_id);
                    self.options.status.set_busy(self.runs.len());
                }
                if handed_back {
                    self.hand_backs.push(v1::HandBack {
                        task_run_id: result.task_run_id,
                        attempt: result.attempt,
                    });
                    Absorbed::HandBack
                } else {
                    self.unacked.push(result);
                    Absorbed::Result
                }
            }
        }
    }

    /// Waits out a backoff while disconnected; task runs keep running and their results are
    /// kept. Returns true when the worker is done (drained while disconnected).
    async fn idle(&mut self, wait: Duration, mut shutdown: Shutdown<'_>) -> bool {
        let until = Instant::now() + wait;
        loop {
            if self.finished(false) {
                return true;
            }
            let deadline = self.drain_deadline;
            tokio::select! {
                () = sleep_until(until) => return false,
                Some(event) = self.events.recv() => {
                    self.absorb(event);
                }
                () = shutdown.as_mut(), if !self.draining() => self.start_drain(),
                () = sleep_opt(deadline), if self.grace_pending() => self.hand_back_all(),
            }
        }
    }

    fn hello(&self) -> WorkerMessage {
        WorkerMessage {
            message: Some(Out::Hello(v1::Hello {
                worker_id: self.options.worker_id.clone(),
                slots: self.options.slots,
                worker_group: self.options.worker_group.clone(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                running: self.running_refs(),
            })),
        }
    }

    fn running_refs(&self) -> Vec<v1::TaskRunRef> {
        self.runs
            .iter()
            .map(|(id, run)| v1::TaskRunRef {
                task_run_id: id.clone(),
                attempt: run.attempt,
            })
            .collect()
    }

    /// One stream: connect, hello, then serve until it breaks or the worker is drained.
    /// Also says whether the executor welcomed the worker.
    async fn session(&mut self, mut shutdown: Shutdown<'_>) -> (SessionEnd, bool) {
        let channel = tokio::select! {
            channel = self.endpoint.connect() => match channel {
                Ok(channel) => channel,
                Err(e) => return (SessionEnd::Broken(format!("cannot connect: {e}")), false),
            },
            () = shutdown.as_mut(), if !self.draining() => {
                self.start_drain();
                return (SessionEnd::Broken("shutdown while connecting".to_owned()), false);
            }
        };
        let mut client = WorkerServiceClient::new(channel);
        let (out, outbound) = mpsc::unbounded_channel();
        let _ = out.send(self.hello());
        let mut request = tonic::Request::new(UnboundedReceiverStream::new(outbound));
        let bearer = baton_proto::bearer(&self.options.token);
        match bearer.parse() {
            Ok(value) => {
                request.metadata_mut().insert("authorization", value);
            }
            Err(_) => {
                return (
                    SessionEnd::Fatal(Error::Unauthenticated(
                        "the token is not valid header text".to_owned(),
                    )),
                    false,
                );
            }
        }
        let mut inbound = match client.connect(request).await {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                return (
                    SessionEnd::Fatal(Error::Unauthenticated(status.message().to_owned())),
                    false,
                );
            }
            Err(status) => return (SessionEnd::Broken(status.to_string()), false),
        };
        let heartbeat = match inbound.message().await {
            Ok(Some(ExecutorMessage {
                message: Some(In::Welcome(welcome)),
            })) => Duration::from_millis(welcome.heartbeat_ms.max(10)),
            Ok(Some(ExecutorMessage {
                message: Some(In::Reject(reject)),
            })) => return (SessionEnd::Fatal(Error::Rejected(reject.reason)), false),
            Ok(_) => {
                return (
                    SessionEnd::Broken("the executor did not welcome the worker".to_owned()),
                    false,
                );
            }
            Err(status) => return (SessionEnd::Broken(status.to_string()), false),
        };
        tracing::info!(worker_id = %self.options.worker_id, "connected to the executor");
        self.options.status.set_connected(true);
        // What ended while disconnected goes out first.
        for result in &self.unacked {
            let _ = out.send(message(Out::TaskResult(result.clone())));
        }
        self.flush_hand_backs(&out);

        let mut heartbeats = tokio::time::interval(heartbeat);
        let mut flushes = tokio::time::interval(LOG_FLUSH_EVERY);
        loop {
            if self.finished(true) {
                self.flush_logs(&out);
                drop(out);
                // Wait for the executor to close its side: everything sent was received.
                let _ = tokio::time::timeout(CLOSE_WAIT, async {
                    while let Ok(Some(_)) = inbound.message().await {}
                })
                .await;
                return (SessionEnd::Done, true);
            }
            let deadline = self.drain_deadline;
            tokio::select! {
                message = inbound.message() => match message {
                    Ok(Some(message)) => self.on_message(message, &out),
                    Ok(None) => return (SessionEnd::Broken("the executor closed the stream".to_owned()), true),
                    Err(status) => return (SessionEnd::Broken(status.to_string()), true),
                },
                Some(event) = self.events.recv() => match self.absorb(event) {
                    Absorbed::Log => {
                        if self.pending_logs.len() >= LOG_BATCH_LINES {
                            self.flush_logs(&out);
                        }
                    }
                    // Logs first, so a result never overtakes its own log lines.
                    Absorbed::Result => {
                        self.flush_logs(&out);
                        if let Some(result) = self.unacked.last() {
                            let _ = out.send(message(Out::TaskResult(result.clone())));
                        }
                    }
                    Absorbed::HandBack => {
                        self.flush_logs(&out);
                        self.flush_hand_backs(&out);
                    }
                },
                Some(call) = self.kv_calls.recv() => {
                    self.kv.sent(call.call_id);
                    let _ = out.send(message(Out::KvCall(call)));
                }
                _ = flushes.tick() => self.flush_logs(&out),
                _ = heartbeats.tick() => {
                    let _ = out.send(message(Out::Heartbeat(v1::Heartbeat { running: self.running_refs() })));
                }
                () = shutdown.as_mut(), if !self.draining() => self.start_drain(),
                () = sleep_opt(deadline), if self.grace_pending() => self.hand_back_all(),
            }
        }
    }

    fn on_message(&mut self, message: ExecutorMessage, out: &UnboundedSender<WorkerMessage>) {
        match message.message {
            Some(In::Assign(assign)) => {
                let full = self.runs.len() >= self.options.slots as usize;
                if self.draining() || full || self.runs.contains_key(&assign.task_run_id) {
                    let _ = out.send(message_hand_back(&assign.task_run_id, assign.attempt));
                    return;
                }
                tracing::debug!(task_run_id = %assign.task_run_id, attempt = assign.attempt, "assigned");
                let id = assign.task_run_id.clone();
                let running = self.runner.start(assign);
                self.runs.insert(id, running);
                self.options.status.set_busy(self.runs.len());
            }
            Some(In::Kill(kill)) => {
                if let Some(run) = self.runs.get(&kill.task_run_id)
                    && (kill.attempt == 0 || kill.attempt == run.attempt)
                {
                    tracing::info!(task_run_id = %kill.task_run_id, "killing");
                    run.cancel.cancel();
                }
            }
            Some(In::ResultAck(ack)) => {
                self.unacked
                    .retain(|r| !(r.task_run_id == ack.task_run_id && r.attempt == ack.attempt));
            }
            Some(In::KvReply(reply)) => self.kv.answered(reply),
            Some(In::Welcome(_) | In::Reject(_)) | None => {}
        }
    }

    fn flush_logs(&mut self, out: &UnboundedSender<WorkerMessage>) {
        while !self.pending_logs.is_empty() {
            let take = self.pending_logs.len().min(LOG_BATCH_LINES);
            let lines: Vec<v1::LogLine> = self.pending_logs.drain(..take).collect();
            let _ = out.send(message(Out::LogBatch(v1::LogBatch { lines })));
        }
    }

    fn flush_hand_backs(&mut self, out: &UnboundedSender<WorkerMessage>) {
        for hand_back in self.hand_backs.drain(..) {
            let _ = out.send(message(Out::HandBack(hand_back)));
        }
    }
}

/// Removes task containers that a dead worker left on this Docker host, in the background; a
/// worker without a reachable engine just says so at debug level.
fn sweep_orphans(docker: Arc<DockerEngine>) {
    tokio::spawn(async move {
        match baton_tasks::docker::sweep_orphans(&docker).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed orphaned task containers"),
            Err(error) => tracing::debug!(%error, "no orphaned task containers swept"),
        }
    });
}

fn message(message: Out) -> WorkerMessage {
    WorkerMessage {
        message: Some(message),
    }
}

fn message_hand_back(task_run_id: &str, attempt: u32) -> WorkerMessage {
    message(Out::HandBack(v1::HandBack {
        task_run_id: task_run_id.to_owned(),
        attempt,
    }))
}

async fn sleep_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
