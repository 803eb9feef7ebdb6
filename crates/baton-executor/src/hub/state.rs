//! The hub's bookkeeping: connected workers, leases, the queue of assignments. Plain data under
//! one mutex; nothing here awaits.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use baton_proto::v1::{self, ExecutorMessage, executor_message::Message as Out};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::{Assignment, HubEvent, TaskResult, TaskState, WorkerInfo};

/// The sending half of one worker's response stream.
pub(crate) type Outbox = UnboundedSender<Result<ExecutorMessage, tonic::Status>>;

pub(crate) struct State {
    events: UnboundedSender<HubEvent>,
    lease: Duration,
    next_connection: u64,
    /// Connected workers by id; at most one connection per worker id.
    workers: HashMap<String, Connection>,
    /// Task runs pushed to a worker and not ended, by task run id.
    leases: HashMap<String, Lease>,
    queue: VecDeque<Assignment>,
}

struct Connection {
    /// Tells this connection from a later one of the same worker.
    id: u64,
    group: Option<String>,
    slots: u32,
    connected_at: DateTime<Utc>,
    outbox: Outbox,
    /// Flow revisions whose source this connection has received.
    flows_sent: HashSet<(String, String, u32)>,
    /// The last message from the worker; a connection silent for a lease is dropped.
    last_seen: Instant,
}

struct Lease {
    attempt: u32,
    worker_id: String,
    expires_at: Instant,
}

impl State {
    pub(crate) fn new(events: UnboundedSender<HubEvent>, lease: Duration) -> State {
        State {
            events,
            lease,
            next_connection: 0,
            workers: HashMap::new(),
            leases: HashMap::new(),
            queue: VecDeque::new(),
        }
    }

    fn emit(&self, event: HubEvent) {
        // The receiver is gone only when the hub is being dropped.
        let _ = self.events.send(event);
    }

    pub(crate) fn enqueue(&mut self, assignment: Assignment) {
        self.queue.push_back(assignment);
    }

    /// Registers a worker's new stream, replacing an older one of the same worker id, and
    /// returns the connection id.
    pub(crate) fn connect(
        &mut self,
        worker_id: &str,
        group: Option<String>,
        slots: u32,
        outbox: Outbox,
        running: &[v1::TaskRunRef],
    ) -> u64 {
        self.next_connection += 1;
        let id = self.next_connection;
        let connection = Connection {
            id,
            group,
            slots,
            connected_at: Utc::now(),
            outbox,
            flows_sent: HashSet::new(),
            last_seen: Instant::now(),
        };
        // Dropping an older connection's outbox ends its response stream.
        self.workers.insert(worker_id.to_owned(), connection);
        if let Some(info) = self.info(worker_id) {
            self.emit(HubEvent::WorkerJoined(info));
        }
        self.renew(worker_id, id, running);
        self.dispatch();
        id
    }

    /// The stream of connection `id` ended. Its leases get a full lease from now, so a worker
    /// that reconnects in time keeps its task runs.
    pub(crate) fn disconnect(&mut self, worker_id: &str, id: u64) {
        if self.workers.get(worker_id).is_none_or(|c| c.id != id) {
            return;
        }
        self.workers.remove(worker_id);
        let expires_at = Instant::now() + self.lease;
        for lease in self.leases.values_mut() {
            if lease.worker_id == worker_id {
                lease.expires_at = lease.expires_at.max(expires_at);
            }
        }
        self.emit(HubEvent::WorkerLeft {
            worker_id: worker_id.to_owned(),
        });
    }

    /// True when `id` is the worker's current connection.
    fn is_current(&self, worker_id: &str, id: u64) -> bool {
        self.workers.get(worker_id).is_some_and(|c| c.id == id)
    }

    /// Renews the leases of the task runs a worker reports running; a task run it no longer
    /// holds (its lease ran out, or it was never its) is killed on the worker.
    pub(crate) fn renew(&mut self, worker_id: &str, id: u64, running: &[v1::TaskRunRef]) {
        if !self.is_current(worker_id, id) {
            return;
        }
        let now = Instant::now();
        let mut stale = Vec::new();
        for run in running {
            match self.leases.get_mut(&run.task_run_id) {
                Some(lease) if lease.worker_id == worker_id && lease.attempt == run.attempt => {
                    lease.expires_at = now + self.lease;
                }
                _ => stale.push(run.clone()),
            }
        }
        if let Some(connection) = self.workers.get_mut(worker_id) {
            connection.last_seen = now;
            for run in stale {
                let _ = connection
                    .outbox
                    .send(Ok(kill_message(&run.task_run_id, run.attempt)));
            }
        }
    }

    pub(crate) fn seen(&mut self, worker_id: &str, id: u64) {
        if let Some(connection) = self.workers.get_mut(worker_id)
            && connection.id == id
        {
            connection.last_seen = Instant::now();
        }
    }

    /// A worker reported the end of an attempt. Returns whether the hub held it; a result for
    /// a task run the worker no longer holds (its lease ran out) is dropped.
    pub(crate) fn finish(&mut self, result: TaskResult) -> bool {
        if !self.holds(&result.worker_id, &result.task_run_id, result.attempt) {
            return false;
        }
        self.leases.remove(&result.task_run_id);
        self.emit(HubEvent::Finished(result));
        self.dispatch();
        true
    }

    pub(crate) fn hand_back(&mut self, worker_id: &str, task_run_id: &str, attempt: u32) {
        if !self.holds(worker_id, task_run_id, attempt) {
            return;
        }
        self.leases.remove(task_run_id);
        self.emit(HubEvent::HandedBack {
            task_run_id: task_run_id.to_owned(),
            attempt,
        });
        self.dispatch();
    }

    pub(crate) fn logs(&self, lines: Vec<super::LogLine>) {
        if !lines.is_empty() {
            self.emit(HubEvent::Logs(lines));
        }
    }

    fn holds(&self, worker_id: &str, task_run_id: &str, attempt: u32) -> bool {
        self.leases
            .get(task_run_id)
            .is_some_and(|l| l.worker_id == worker_id && l.attempt == attempt)
    }

    pub(crate) fn kill(&mut self, task_run_id: &str) {
        if let Some(index) = self.queue.iter().position(|a| a.task_run_id == task_run_id) {
            let Some(assignment) = self.queue.remove(index) else {
                return;
            };
            let now = Utc::now();
            self.emit(HubEvent::Finished(TaskResult {
                task_run_id: assignment.task_run_id,
                attempt: assignment.attempt,
                worker_id: String::new(),
                state: TaskState::Killed,
                outputs: serde_json::json!({}),
                error_message: Some("killed before a worker took it".to_owned()),
                started_at: now,
                ended_at: now,
            }));
            return;
        }
        if let Some(lease) = self.leases.get(task_run_id)
            && let Some(connection) = self.workers.get(&lease.worker_id)
        {
            let _ = connection
                .outbox
                .send(Ok(kill_message(task_run_id, lease.attempt)));
        }
    }

    /// Pushes queued assignments to workers with free slots, oldest first. An assignment no
    /// worker can take waits without holding back those behind it for other groups.
    pub(crate) fn dispatch(&mut self) {
        if self.queue.is_empty() || self.workers.is_empty() {
            return;
        }
        let mut busy: HashMap<String, u32> = HashMap::new();
        for lease in self.leases.values() {
            *busy.entry(lease.worker_id.clone()).or_default() += 1;
        }
        let mut waiting = VecDeque::new();
        while let Some(assignment) = self.queue.pop_front() {
            // The least busy worker of the group with a free slot.
            let chosen = self
                .workers
                .iter()
                .filter(|(_, c)| c.group == assignment.worker_group)
                .map(|(id, c)| (id, c, busy.get(id).copied().unwrap_or(0)))
                .filter(|(_, c, used)| *used < c.slots)
                .min_by(|a, b| {
                    (u64::from(a.2) * u64::from(b.1.slots))
                        .cmp(&(u64::from(b.2) * u64::from(a.1.slots)))
                        .then_with(|| a.0.cmp(b.0))
                })
                .map(|(id, _, _)| id.clone());
            let Some(worker_id) = chosen else {
                waiting.push_back(assignment);
                continue;
            };
            if self.push(&worker_id, &assignment) {
                *busy.entry(worker_id).or_default() += 1;
            } else {
                // Its stream is gone; forget it and try the assignment again.
                let id = self.workers.get(&worker_id).map_or(0, |c| c.id);
                self.disconnect(&worker_id, id);
                self.queue.push_front(assignment);
            }
        }
        self.queue = waiting;
    }

    /// Sends one assignment to a worker and leases it; false when the worker's stream is gone.
    fn push(&mut self, worker_id: &str, assignment: &Assignment) -> bool {
        let Some(connection) = self.workers.get_mut(worker_id) else {
            return false;
        };
        let flow = &assignment.flow;
        let key = (flow.namespace.clone(), flow.id.clone(), flow.revision);
        let first_time = !connection.flows_sent.contains(&key);
        let expires_at = Instant::now() + self.lease;
        let lease_expires_at =
            Utc::now() + chrono::Duration::from_std(self.lease).unwrap_or_default();
        let message = ExecutorMessage {
            message: Some(Out::Assign(v1::Assign {
                execution_id: assignment.execution_id.clone(),
                task_run_id: assignment.task_run_id.clone(),
                attempt: assignment.attempt,
                flow: Some(v1::FlowSource {
                    namespace: flow.namespace.clone(),
                    id: flow.id.clone(),
                    revision: flow.revision,
                    source: if first_time {
                        flow.source.to_string()
                    } else {
                        String::new()
                    },
                }),
                task_id: assignment.task_id.clone(),
                context_json: assignment.context.to_string(),
                lease_expires_at_ms: lease_expires_at.timestamp_millis(),
            })),
        };
        if connection.outbox.send(Ok(message)).is_err() {
            return false;
        }
        connection.flows_sent.insert(key);
        self.leases.insert(
            assignment.task_run_id.clone(),
            Lease {
                attempt: assignment.attempt,
                worker_id: worker_id.to_owned(),
                expires_at,
            },
        );
        self.emit(HubEvent::Started {
            task_run_id: assignment.task_run_id.clone(),
            attempt: assignment.attempt,
            worker_id: worker_id.to_owned(),
        });
        true
    }

    /// Ends leases that ran out and drops connections silent for a whole lease.
    pub(crate) fn expire(&mut self, now: Instant) {
        let expired: Vec<(String, u32, String)> = self
            .leases
            .iter()
            .filter(|(_, l)| l.expires_at <= now)
            .map(|(id, l)| (id.clone(), l.attempt, l.worker_id.clone()))
            .collect();
        for (task_run_id, attempt, worker_id) in &expired {
            self.leases.remove(task_run_id);
            // A worker still connected but no longer reporting it must not keep running it.
            if let Some(connection) = self.workers.get(worker_id) {
                let _ = connection
                    .outbox
                    .send(Ok(kill_message(task_run_id, *attempt)));
            }
            metrics::counter!("baton_lease_expiries_total").increment(1);
            self.emit(HubEvent::LeaseExpired {
                task_run_id: task_run_id.clone(),
                attempt: *attempt,
                worker_id: worker_id.clone(),
            });
        }
        let silent: Vec<(String, u64)> = self
            .workers
            .iter()
            .filter(|(_, c)| now.duration_since(c.last_seen) > self.lease)
            .map(|(id, c)| (id.clone(), c.id))
            .collect();
        for (worker_id, id) in &silent {
            self.disconnect(worker_id, *id);
        }
        if !expired.is_empty() || !silent.is_empty() {
            self.dispatch();
        }
    }

    fn info(&self, worker_id: &str) -> Option<WorkerInfo> {
        let connection = self.workers.get(worker_id)?;
        let busy = self
            .leases
            .values()
            .filter(|l| l.worker_id == worker_id)
            .count();
        Some(WorkerInfo {
            id: worker_id.to_owned(),
            group: connection.group.clone(),
            slots: connection.slots,
            busy: u32::try_from(busy).unwrap_or(u32::MAX),
            connected_at: connection.connected_at,
        })
    }

    pub(crate) fn workers(&self) -> Vec<WorkerInfo> {
        let mut out: Vec<WorkerInfo> = self.workers.keys().filter_map(|id| self.info(id)).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

fn kill_message(task_run_id: &str, attempt: u32) -> ExecutorMessage {
    ExecutorMessage {
        message: Some(Out::Kill(v1::Kill {
            task_run_id: task_run_id.to_owned(),
            attempt,
        })),
    }
}
