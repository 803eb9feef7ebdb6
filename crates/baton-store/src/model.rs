//! The values that go in and out of a store.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::Error;

/// One revision of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    pub namespace: String,
    pub id: String,
    /// Starts at 1 and grows by one for every deploy that changes the source, and for a delete.
    pub revision: i32,
    /// The YAML exactly as the user wrote it.
    pub source: String,
    pub disabled: bool,
    /// A tombstone revision: the flow was deleted at this revision; earlier ones stay readable.
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
}

/// Which flows `list_flows` returns: the latest live revision of each, ordered by (namespace, id).
#[derive(Debug, Clone, Default)]
pub struct FlowFilter {
    /// `company.team` matches `company.team` and `company.team.sub`, not `company.teamwork`.
    pub namespace_prefix: Option<String>,
    /// Keyset pagination: only flows after this (namespace, id).
    pub after: Option<(String, String)>,
    pub limit: u32,
}

/// Kestra's execution states; the engine's own type, so the column and the document agree.
pub use baton_core::execution::State as ExecutionState;

/// Reads a state column.
pub(crate) fn parse_state(text: &str) -> Result<ExecutionState, Error> {
    ExecutionState::parse(text).ok_or_else(|| Error::InvalidData {
        what: "execution state",
        value: text.to_owned(),
    })
}

/// An execution: a few indexed columns plus the whole execution as an opaque JSON document.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// A UUIDv7, so ids sort by creation time.
    pub id: Uuid,
    pub namespace: String,
    pub flow_id: String,
    pub flow_revision: i32,
    pub state: ExecutionState,
    pub labels: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    /// Set by the store on every write; what the caller passes is ignored.
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Set by the store: 1 on create, +1 on every update. Pass it back as `expected_version`.
    pub version: i64,
    /// Task runs, inputs, outputs…: the engine's business, never read by the store.
    pub document: Value,
}

impl Execution {
    /// A new CREATED execution with a fresh UUIDv7 and `created_at` = now.
    pub fn new(namespace: &str, flow_id: &str, flow_revision: i32, document: Value) -> Self {
        let now = Utc::now();
        Self {
            id: Uuid::now_v7(),
            namespace: namespace.to_owned(),
            flow_id: flow_id.to_owned(),
            flow_revision,
            state: ExecutionState::Created,
            labels: BTreeMap::new(),
            created_at: now,
            updated_at: now,
            ended_at: None,
            version: 0,
            document,
        }
    }
}

/// Which executions `list_executions` returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub namespace: Option<String>,
    pub flow_id: Option<String>,
    /// Empty means every state.
    pub states: Vec<ExecutionState>,
    /// Inclusive lower bound on `created_at`.
    pub created_from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `created_at`.
    pub created_to: Option<DateTime<Utc>>,
    /// Every pair must be among the execution's labels.
    pub labels: BTreeMap<String, String>,
}

/// Keyset position in the (created_at desc, id desc) order: the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionCursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

/// One page of executions.
#[derive(Debug, Clone)]
pub struct ExecutionPage {
    pub items: Vec<Execution>,
    /// Where the next page starts, `None` when this page was the last.
    pub next: Option<ExecutionCursor>,
}

/// A message to put on a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub queue: String,
    /// Messages with the same key are delivered one at a time, in enqueue order.
    pub key: Option<String>,
    pub payload: Value,
    /// Not claimable before this instant; `None` means now (the database's clock).
    pub run_at: Option<DateTime<Utc>>,
    /// Lower is claimed first.
    pub priority: i16,
    /// Enqueued already claimed by this consumer, with this lease (its first claim): work the
    /// enqueuing process goes on to do itself, which passes to another consumer only if the
    /// lease runs out (the process died). Nobody is woken for it.
    pub claimed_by: Option<(String, std::time::Duration)>,
}

impl NewMessage {
    pub fn new(queue: &str, payload: Value) -> Self {
        Self {
            queue: queue.to_owned(),
            key: None,
            payload,
            run_at: None,
            priority: 0,
            claimed_by: None,
        }
    }

    /// Enqueues the message already claimed by `consumer` (see the `claimed_by` field).
    pub fn claimed_by(mut self, consumer: &str, lease: std::time::Duration) -> Self {
        self.claimed_by = Some((consumer.to_owned(), lease));
        self
    }

    /// Whether a consumer must be woken for this message.
    pub(crate) fn wakes(&self) -> bool {
        self.claimed_by.is_none()
    }

    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn run_at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = Some(run_at);
        self
    }

    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }
}

/// A message a consumer holds until its lease expires.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: i64,
    pub queue: String,
    pub key: Option<String>,
    pub payload: Value,
    /// How many times the message has been claimed, this claim included (1 on first delivery).
    pub attempt: i32,
    pub lease_expires_at: DateTime<Utc>,
}

/// Log levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::Warn => "WARN",
            Self::Info => "INFO",
            Self::Debug => "DEBUG",
            Self::Trace => "TRACE",
        }
    }
}

impl FromStr for LogLevel {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        [
            Self::Error,
            Self::Warn,
            Self::Info,
            Self::Debug,
            Self::Trace,
        ]
        .into_iter()
        .find(|level| level.as_str() == s)
        .ok_or_else(|| Error::InvalidData {
            what: "log level",
            value: s.to_owned(),
        })
    }
}

/// One log line of a task run (or of the execution itself when `task_run_id` is `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub execution_id: Uuid,
    pub task_run_id: Option<String>,
    pub attempt: i32,
    pub level: LogLevel,
    pub timestamp: DateTime<Utc>,
    pub message: String,
}

/// Position in an execution's log stream. Opaque: pass back what `logs` returned.
///
/// On Postgres it is (writing transaction, row id) and `logs` only returns rows of transactions
/// older than every transaction still running, so a row that commits late can never land behind
/// a cursor a live follower already holds (the hole in Kestra's broadcast offsets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogCursor {
    pub(crate) tx: i64,
    pub(crate) id: i64,
}

/// A stored log line and its position.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub cursor: LogCursor,
    pub entry: LogEntry,
}

/// A KV pair.
#[derive(Debug, Clone, PartialEq)]
pub struct KvEntry {
    pub namespace: String,
    pub key: String,
    pub value: Value,
    pub expires_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl ExecutionPage {
    /// A page whose `next` cursor is set when it is full.
    pub(crate) fn new(items: Vec<Execution>, limit: u32) -> Self {
        let full = u32::try_from(items.len()).is_ok_and(|len| len >= limit) && limit > 0;
        let next = items.last().filter(|_| full).map(|last| ExecutionCursor {
            created_at: last.created_at,
            id: last.id,
        });
        Self { items, next }
    }
}
