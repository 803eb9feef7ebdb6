//! Schedule triggers and backfills: their rows, and the transactions the scheduler fires in.
//!
//! # Exactly once
//!
//! A trigger row holds the next fire date of one Schedule trigger. A scheduler fires it in a
//! [`TriggerTx`]: it locks the row (on Postgres `FOR UPDATE SKIP LOCKED`, so another scheduler
//! busy with it is skipped, not waited for), checks that the row still says what it expected,
//! then inserts the execution, its first queue message and the fire's key, and moves the row to
//! the next date, all in one commit. The fire key (`trigger_fires`: flow, trigger, fire date,
//! origin) is unique, so even a scheduler that acted on a stale row cannot create a second
//! execution for one date: the database refuses it ([`Error::DuplicateFire`]).
//!
//! A process that dies mid-fire leaves nothing behind (the transaction rolls back with its
//! connection) and the row unchanged, so another scheduler fires the date.
//!
//! # Who writes what
//!
//! Rows are created, updated and deleted by the scheduler from flow revisions
//! ([`TriggerStore::sync_triggers`]); their state moves when they fire. The API disables and
//! enables them and manages backfills, then calls [`TriggerStore::notify_schedulers`] so every
//! scheduler reloads.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{Error, Execution, ExecutionState, ExecutionTx, FlowRecord, NewMessage, Result};

/// The wake-up name schedulers subscribe to ([`crate::QueueStore::subscribe`]): flows were
/// deployed or deleted, or the API changed a trigger or a backfill.
pub const SCHEDULER_WAKEUP: &str = "scheduler";

/// One trigger of one flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TriggerKey {
    pub namespace: String,
    pub flow_id: String,
    pub trigger_id: String,
}

impl TriggerKey {
    pub fn new(namespace: &str, flow_id: &str, trigger_id: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            flow_id: flow_id.to_owned(),
            trigger_id: trigger_id.to_owned(),
        }
    }
}

impl std::fmt::Display for TriggerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.namespace, self.flow_id, self.trigger_id)
    }
}

/// A Schedule trigger's row.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerState {
    pub key: TriggerKey,
    /// The flow revision the row was last synced from.
    pub flow_revision: i32,
    /// The trigger as the scheduler reads it (cron, zone, inputs…), opaque to the store.
    pub definition: Value,
    /// Changes when what decides the fire dates changes (cron, zone, disabled in the flow):
    /// the schedule then restarts from the sync instead of replaying.
    pub fingerprint: String,
    /// The next date to fire; `None` when the schedule never fires again.
    pub next_fire_at: Option<DateTime<Utc>>,
    /// The last date that created an execution.
    pub last_fire_at: Option<DateTime<Utc>>,
    pub last_execution_id: Option<Uuid>,
    /// The last execution's state (read with the row); `None` when there is none.
    pub last_execution_state: Option<ExecutionState>,
    /// The last execution still has to be released: schedules do not overlap, so the next
    /// fire waits for it to end, and `stopAfter` is checked against how it ended.
    pub awaiting_execution: bool,
    /// Disabled through the API or by `stopAfter`.
    pub disabled: bool,
    pub updated_at: DateTime<Utc>,
}

impl TriggerState {
    /// The next fire must wait: the last execution has not ended yet.
    pub fn is_waiting(&self) -> bool {
        self.awaiting_execution && self.last_execution_state.is_some_and(|s| !s.is_terminal())
    }
}

/// What a flow revision says about one of its Schedule triggers.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerSync {
    pub trigger_id: String,
    pub definition: Value,
    pub fingerprint: String,
    /// Where the schedule starts when the row is new or its fingerprint changed.
    pub next_fire_at: Option<DateTime<Utc>>,
}

/// One flow revision's Schedule triggers, for [`TriggerStore::sync_triggers`].
#[derive(Debug, Clone, PartialEq)]
pub struct FlowTriggers {
    pub namespace: String,
    pub flow_id: String,
    pub revision: i32,
    /// Empty for a deleted flow or one without Schedule triggers.
    pub triggers: Vec<TriggerSync>,
}

/// Which trigger rows `list_triggers` returns, by (namespace, flow, trigger).
#[derive(Debug, Clone, Default)]
pub struct TriggerFilter {
    /// `company.team` matches `company.team` and `company.team.sub`.
    pub namespace_prefix: Option<String>,
    pub flow_id: Option<String>,
}

/// A date a trigger fired for, recorded under its unique key.
#[derive(Debug, Clone, PartialEq)]
pub struct FireRecord {
    pub key: TriggerKey,
    pub fire_date: DateTime<Utc>,
    /// `None` for the schedule itself, the backfill for a backfill's fires.
    pub backfill_id: Option<Uuid>,
    pub execution_id: Uuid,
}

/// One due date of a Schedule trigger, for [`TriggerStore::fire_schedules`].
#[derive(Debug, Clone)]
pub struct ScheduledFire {
    /// The row as the scheduler armed it. The date fires only if the row still has the same
    /// next date, flow revision and definition, is enabled, and does not wait for a running
    /// execution ([`ScheduledFire::still_armed`]). A row awaiting an execution that has ended
    /// is released without further check: triggers whose release needs one (`stopAfter`) do
    /// not fire through here.
    pub armed: TriggerState,
    pub fire_date: DateTime<Utc>,
    /// Where the row moves once the date fired.
    pub next_fire_at: Option<DateTime<Utc>>,
    pub execution: Execution,
    /// The execution's first messages.
    pub messages: Vec<NewMessage>,
}

impl ScheduledFire {
    /// The locked `row` still says what the scheduler armed, and nothing holds the date back.
    pub fn still_armed(&self, row: &TriggerState) -> bool {
        row.next_fire_at == self.armed.next_fire_at
            && row.flow_revision == self.armed.flow_revision
            && row.definition == self.armed.definition
            && !row.disabled
            && !row.is_waiting()
    }

    /// The row once this date fired.
    pub fn fired_row(&self, row: &TriggerState) -> TriggerState {
        TriggerState {
            next_fire_at: self.next_fire_at,
            last_fire_at: Some(self.fire_date),
            last_execution_id: Some(self.execution.id),
            last_execution_state: Some(self.execution.state),
            awaiting_execution: true,
            ..row.clone()
        }
    }
}

/// A moment to wait for, handed to [`TriggerStore::fire_schedules_at`]: resolves when the
/// fire dates have come (the scheduler's clock decides).
pub type Date<'a> = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// [`TriggerStore::fire_schedules`] one date at a time, each in a [`TriggerTx`] of its own:
/// for a backend with one writer at a time, where a batch saves no round trips.
pub(crate) async fn fire_schedules_one_by_one<S: TriggerStore + ?Sized>(
    store: &S,
    fires: &[ScheduledFire],
) -> Result<Vec<TriggerState>> {
    let mut fired = Vec::with_capacity(fires.len());
    for fire in fires {
        let mut tx = match store.lock_trigger(&fire.armed.key, true).await {
            Ok(Some(tx)) => tx,
            Ok(None) | Err(Error::TriggerNotFound(_)) => continue,
            Err(error) => return Err(error),
        };
        if !fire.still_armed(tx.state()) {
            continue;
        }
        let record = FireRecord {
            key: fire.armed.key.clone(),
            fire_date: fire.fire_date,
            backfill_id: None,
            execution_id: fire.execution.id,
        };
        match tx.record_fire(&record).await {
            Err(Error::DuplicateFire { .. }) => continue,
            other => other?,
        }
        tx.executions().insert_execution(&fire.execution).await?;
        tx.executions().enqueue(&fire.messages).await?;
        let state = fire.fired_row(tx.state());
        tx.update(&state).await?;
        tx.commit().await?;
        // `updated_at` as written: read it back so the caller holds the row as stored.
        fired.push(store.get_trigger(&fire.armed.key).await?);
    }
    Ok(fired)
}

/// Where a backfill stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillState {
    Running,
    Paused,
    Cancelled,
    /// Every date has its execution.
    Done,
}

impl BackfillState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Paused => "PAUSED",
            Self::Cancelled => "CANCELLED",
            Self::Done => "DONE",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        [Self::Running, Self::Paused, Self::Cancelled, Self::Done]
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| Error::InvalidData {
                what: "backfill state",
                value: text.to_owned(),
            })
    }

    /// Running or paused: at most one per trigger.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Paused)
    }
}

/// A backfill to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBackfill {
    pub key: TriggerKey,
    /// The range of fire dates, both ends included.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The first fire date in the range (`None`: the range holds none, the backfill is done).
    pub first_fire_at: Option<DateTime<Utc>>,
    /// How many fire dates the range holds.
    pub total: i32,
    /// Override the trigger's inputs.
    pub inputs: serde_json::Map<String, Value>,
    /// Added to the trigger's labels.
    pub labels: BTreeMap<String, String>,
}

/// A backfill: executions for past fire dates of a trigger, created one at a time, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Backfill {
    pub id: Uuid,
    pub key: TriggerKey,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The next date to create an execution for; `None` once every date has one.
    pub next_fire_at: Option<DateTime<Utc>>,
    pub inputs: serde_json::Map<String, Value>,
    pub labels: BTreeMap<String, String>,
    pub state: BackfillState,
    pub total: i32,
    /// Executions created so far.
    pub created: i32,
    /// Of those, how many have ended.
    pub ended: i32,
    /// The last execution created, which the next one waits for, and its state.
    pub execution_id: Option<Uuid>,
    pub execution_state: Option<ExecutionState>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Backfill {
    /// The next execution must wait: the last one has not ended yet.
    pub fn is_waiting(&self) -> bool {
        self.execution_state.is_some_and(|s| !s.is_terminal())
    }
}

/// Trigger rows, fire keys and backfills.
#[async_trait]
pub trait TriggerStore: Send + Sync {
    /// Flows whose latest revision (tombstones included) the trigger rows do not reflect yet,
    /// by (namespace, id), after the flow `after` (namespace, id) if given, at most `limit`.
    async fn flows_to_sync(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<FlowRecord>>;

    /// Makes each flow's trigger rows match its `triggers`, the Schedule triggers of
    /// `revision` (none for a deleted flow), and records the revision as synced, for many flows
    /// in one transaction. Rows of triggers that are gone are deleted and their active
    /// backfills cancelled; a row whose fingerprint is unchanged keeps its schedule. A flow
    /// whose `revision` (or a later one) was synced already is left alone: several schedulers
    /// sync at once. Returns how many flows this call synced. The flows must be distinct.
    async fn sync_triggers(&self, flows: &[FlowTriggers]) -> Result<usize>;

    async fn list_triggers(&self, filter: &TriggerFilter) -> Result<Vec<TriggerState>>;

    async fn get_trigger(&self, key: &TriggerKey) -> Result<TriggerState>;

    /// Opens a write transaction holding the trigger's row. With `skip_locked`, `None` when
    /// another transaction holds it; without, waits for it.
    async fn lock_trigger(
        &self,
        key: &TriggerKey,
        skip_locked: bool,
    ) -> Result<Option<Box<dyn TriggerTx>>>;

    /// Fires many due dates of Schedule triggers at once (on Postgres in one statement, one
    /// commit): for each date still as armed ([`ScheduledFire`]) and not fired yet, records its
    /// fire key, inserts its execution and messages and moves its row on, exactly as a
    /// [`TriggerTx`] does. Returns the rows of the dates that fired, as they now stand. Nothing
    /// is written for the others (the row is gone, changed, waits, is held by another
    /// scheduler, or the date fired already): the caller fires those one at a time to learn
    /// why.
    async fn fire_schedules(&self, fires: &[ScheduledFire]) -> Result<Vec<TriggerState>>;

    /// [`TriggerStore::fire_schedules`], committed once `date` resolves (the fire dates'
    /// arrival), and never before: on Postgres the fires are written ahead, in a transaction
    /// that only commits at the date, so a fire's lateness is the commit's. Nothing is visible
    /// before the commit; a process that dies before it fires nothing. By default the call
    /// waits for the date, then fires.
    async fn fire_schedules_at(
        &self,
        fires: &[ScheduledFire],
        date: crate::Date<'_>,
    ) -> Result<Vec<TriggerState>> {
        date.await;
        self.fire_schedules(fires).await
    }

    /// Readies [`TriggerStore::fire_schedules`] ahead of a date (on Postgres: opens its
    /// connection and plans its statement), so the first fires do not pay for it.
    async fn prepare_fire_schedules(&self) -> Result<()> {
        Ok(())
    }

    /// Of `ids`, the executions that have ended (or no longer exist).
    async fn ended_executions(&self, ids: &[Uuid]) -> Result<Vec<Uuid>>;

    /// Creates a running backfill; [`Error::BackfillActive`] if the trigger has one running
    /// or paused, [`Error::TriggerNotFound`] if the trigger does not exist.
    async fn create_backfill(&self, backfill: &NewBackfill) -> Result<Backfill>;

    async fn get_backfill(&self, id: Uuid) -> Result<Backfill>;

    /// The trigger's backfills, newest first; `active_only` keeps running and paused ones.
    async fn list_backfills(
        &self,
        key: Option<&TriggerKey>,
        active_only: bool,
    ) -> Result<Vec<Backfill>>;

    /// Moves the backfill to `to` if it is in one of `from`; [`Error::BackfillState`] if not.
    async fn set_backfill_state(
        &self,
        id: Uuid,
        from: &[BackfillState],
        to: BackfillState,
    ) -> Result<Backfill>;

    /// Opens a write transaction holding the backfill's row (`skip_locked` as for triggers).
    async fn lock_backfill(
        &self,
        id: Uuid,
        skip_locked: bool,
    ) -> Result<Option<Box<dyn BackfillTx>>>;

    /// Wakes every scheduler (in every process) to reload trigger rows and backfills.
    async fn notify_schedulers(&self) -> Result<()>;
}

/// A transaction holding one trigger row. Dropping it without commit rolls back.
#[async_trait]
pub trait TriggerTx: Send {
    /// The row as locked.
    fn state(&self) -> &TriggerState;

    /// Writes the row's schedule fields (`next_fire_at`, `last_fire_at`,
    /// `last_execution_id`, `awaiting_execution`, `disabled`) from `state`.
    async fn update(&mut self, state: &TriggerState) -> Result<()>;

    /// Records the fire under its unique key; [`Error::DuplicateFire`] if the date fired
    /// already (the transaction is then unusable: drop it).
    async fn record_fire(&mut self, fire: &FireRecord) -> Result<()>;

    /// The same transaction, to insert the fire's execution and enqueue its first message.
    fn executions(&mut self) -> &mut dyn ExecutionTx;

    async fn commit(self: Box<Self>) -> Result<()>;
}

/// A transaction holding one backfill row. Dropping it without commit rolls back.
#[async_trait]
pub trait BackfillTx: Send {
    fn backfill(&self) -> &Backfill;

    /// Writes `next_fire_at`, `created`, `execution_id` and `state` from `backfill`.
    async fn update(&mut self, backfill: &Backfill) -> Result<()>;

    async fn record_fire(&mut self, fire: &FireRecord) -> Result<()>;

    fn executions(&mut self) -> &mut dyn ExecutionTx;

    async fn commit(self: Box<Self>) -> Result<()>;
}
