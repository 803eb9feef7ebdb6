//! Baton's scheduler role: Schedule triggers and backfills.
//!
//! # How a date fires
//!
//! Every scheduler keeps each Schedule trigger's row in memory and a heap of next fire dates
//! ([`timer`]), and sleeps until the earliest one on its [`Clock`] — no polling loop. At that
//! date it decides what to do ([`plan`]) with the execution already built (inputs resolved,
//! `trigger.date` / `next` / `previous` set, a little ahead of the date), then in one store
//! transaction locks the trigger row, checks it still says what it expected, records the date
//! under its unique fire key, inserts the execution and its first queue message, and moves the
//! row to the next date. The triggers due at one date share that transaction (on Postgres one
//! statement: one round trip, one commit); a date it does not fire is then tried on its own, to
//! learn why. Any number of schedulers run against one Postgres: a row another scheduler holds
//! is skipped (`SKIP LOCKED`) and read again a moment later; a stale scheduler's insert is
//! refused by the fire key. A scheduler that dies mid-fire leaves the row unchanged, and the
//! others fire the date.
//!
//! # What wakes it
//!
//! Flow deploys and deletes and the API's trigger and backfill changes notify every scheduler
//! (`SCHEDULER_WAKEUP`): it syncs trigger rows from the flows that changed ([`sync`]), reloads
//! the rows and re-arms the heap. A trigger whose last execution is still running waits (Kestra's
//! "schedules do not overlap"); the scheduler checks such executions in one query every
//! `blocked_poll`, only while some trigger waits.

pub mod backfill;
mod batch;
pub mod clock;
pub mod control;
pub mod definition;
mod fire;
pub mod plan;
mod runtime;
mod sync;
mod timer;

use std::time::Duration;

use baton_store::TriggerKey;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use backfill::MAX_BACKFILL_DATES;
pub use clock::{Clock, ManualClock, SystemClock};
pub use definition::ScheduleDefinition;
pub use runtime::{Ready, Scheduler};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] baton_store::Error),
    #[error(transparent)]
    Executor(#[from] baton_executor::executor::Error),
    /// A trigger row's definition cannot be read (written by another Baton version?).
    #[error("trigger {trigger}: {reason}")]
    Definition { trigger: String, reason: String },
    /// A request the trigger cannot take (a backfill range that is empty or too large…).
    #[error("{0}")]
    Invalid(String),
    /// A fire task panicked.
    #[error("the fire task failed: {0}")]
    Task(String),
}

/// Tunables of the scheduler.
#[derive(Clone, Debug)]
pub struct SchedulerOptions {
    /// A date later than this is missed rather than late: `recoverMissedSchedules` decides
    /// whether it fires (see [`plan`]).
    pub missed_after: Duration,
    /// How often executions that triggers wait for are checked, while some trigger waits.
    pub blocked_poll: Duration,
    /// How long to wait before reading a trigger that another scheduler is firing.
    pub busy_retry: Duration,
    /// Flows and trigger rows are read again this often even without a wake-up.
    pub resync_interval: Duration,
    /// Fire tasks at once: one per backfill, and one per date for the triggers due at it,
    /// which fire together (a task armed ahead waits for its date in flight).
    pub max_concurrent_fires: usize,
    /// A trigger's execution is built this long before its date (flow read, inputs resolved),
    /// so at the date only the transaction remains.
    pub prepare_ahead: Duration,
    /// After a failed fire (the store unreachable…), the trigger is tried again this much later.
    pub retry_after: Duration,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            missed_after: Duration::from_secs(60),
            blocked_poll: Duration::from_millis(250),
            busy_retry: Duration::from_millis(20),
            resync_interval: Duration::from_secs(60),
            max_concurrent_fires: 64,
            prepare_ahead: Duration::from_secs(1),
            retry_after: Duration::from_secs(1),
        }
    }
}

/// One execution a scheduler created, reported once committed (tests and benches read these).
#[derive(Clone, Debug, PartialEq)]
pub struct FireReport {
    pub key: TriggerKey,
    pub date: DateTime<Utc>,
    /// Set for a backfill's executions.
    pub backfill_id: Option<Uuid>,
    pub execution_id: Uuid,
    /// The scheduler's clock right after the commit returned.
    pub committed_at: DateTime<Utc>,
}
