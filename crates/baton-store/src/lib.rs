//! Baton's storage: the only crate that talks to a database.
//!
//! Flows (with revisions), executions (indexed columns + an opaque JSON document), a durable
//! work queue, logs and KV, on Postgres ([`PgStore`], several processes sharing one database) or
//! SQLite ([`SqliteStore`], embedded, for `baton server local`). Both implement [`Store`] and
//! pass the same conformance suite (`tests/conformance/`).
//!
//! # Why `async_trait`
//!
//! The executor and the API hold an `Arc<dyn Store>` chosen at run time from the config, and a
//! native `async fn` in a trait is not object-safe. `async_trait` boxes each returned future;
//! one allocation is noise next to a database round trip, and it keeps one trait instead of a
//! generic parameter threaded through every role.
//!
//! # Locking an execution (the executor's step)
//!
//! [`ExecutionStore::begin`] opens a write transaction ([`ExecutionTx`]).
//! [`ExecutionTx::lock_execution`] reads the execution and holds it exclusively until
//! [`ExecutionTx::commit`] or drop (= rollback): on Postgres with `SELECT … FOR UPDATE` (a row
//! lock: other executions proceed in parallel); on SQLite the transaction starts with
//! `BEGIN IMMEDIATE`, which takes the database's single write lock, so writers are serialized
//! (SQLite has no row locks; an embedded single process does not need them). Inside the
//! transaction the executor writes the new execution state, enqueues the messages that announce
//! it and acks the message it consumed; they commit together or not at all.
//! The `version` check still applies inside the transaction, so a caller that read the execution
//! outside the lock cannot overwrite a newer one.

mod concurrency;
mod error;
mod model;
mod postgres;
mod retention;
mod sqlite;
mod triggers;
mod wakeup;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

#[cfg(feature = "testing")]
pub mod testing;

pub use concurrency::{ConcurrencySlot, SlotDecision, SlotRequest, SlotState};
pub use error::{Error, Result};
pub use model::*;
pub use postgres::{PgStore, PgStoreOptions};
pub use retention::{LogPurgeFilter, PurgeBatch, PurgeFilter, PurgedExecution, RetentionStore};
pub use sqlite::{SqliteStore, SqliteStoreOptions};
pub use triggers::*;
pub use wakeup::Wakeup;

/// Everything the roles need from storage.
pub trait Store:
    FlowStore
    + ExecutionStore
    + QueueStore
    + LogStore
    + KvStore
    + TriggerStore
    + ConcurrencyStore
    + RetentionStore
{
}

impl<T> Store for T where
    T: FlowStore
        + ExecutionStore
        + QueueStore
        + LogStore
        + KvStore
        + TriggerStore
        + ConcurrencyStore
        + RetentionStore
{
}

/// Flows and their revisions.
#[async_trait]
pub trait FlowStore: Send + Sync {
    /// Stores `source` as the flow's newest revision, unless it equals the current one: then
    /// the current revision is returned (with `disabled` updated in place) and no row is added.
    /// Deploying a deleted flow continues its revision numbering.
    async fn deploy_flow(
        &self,
        namespace: &str,
        id: &str,
        source: &str,
        disabled: bool,
    ) -> Result<FlowRecord>;

    /// The given revision (deleted or not), or the latest one, which must not be deleted.
    async fn get_flow(
        &self,
        namespace: &str,
        id: &str,
        revision: Option<i32>,
    ) -> Result<FlowRecord>;

    /// The latest revision of each live flow.
    async fn list_flows(&self, filter: &FlowFilter) -> Result<Vec<FlowRecord>>;

    /// Every revision, tombstones included, oldest first.
    async fn list_revisions(&self, namespace: &str, id: &str) -> Result<Vec<FlowRecord>>;

    /// Soft delete: adds a tombstone revision; history stays.
    async fn delete_flow(&self, namespace: &str, id: &str) -> Result<FlowRecord>;

    /// A number that grows whenever any flow is deployed, disabled or deleted (a database
    /// trigger keeps it), so a cache of parsed flows knows it is stale with one cheap read.
    async fn flows_generation(&self) -> Result<i64>;
}

/// Executions.
#[async_trait]
pub trait ExecutionStore: Send + Sync {
    /// Opens a write transaction; see the crate docs for the locking design.
    async fn begin(&self) -> Result<Box<dyn ExecutionTx>>;

    async fn get_execution(&self, id: Uuid) -> Result<Execution>;

    /// Newest first, by (created_at desc, id desc), `limit` rows per page.
    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        after: Option<ExecutionCursor>,
        limit: u32,
    ) -> Result<ExecutionPage>;

    /// Inserts the execution and enqueues `first_message` in one transaction.
    async fn create_execution(
        &self,
        execution: &Execution,
        first_message: &NewMessage,
    ) -> Result<Execution> {
        let mut tx = self.begin().await?;
        let created = tx.insert_execution(execution).await?;
        tx.enqueue(std::slice::from_ref(first_message)).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Writes the execution if its version is still `expected_version` (else
    /// [`Error::Conflict`]), enqueues `enqueue` and deletes the `ack` messages, atomically.
    async fn update_execution(
        &self,
        execution: &Execution,
        expected_version: i64,
        enqueue: &[NewMessage],
        ack: &[i64],
    ) -> Result<Execution> {
        let mut tx = self.begin().await?;
        let updated = tx.update_execution(execution, expected_version).await?;
        tx.enqueue(enqueue).await?;
        tx.ack(ack).await?;
        tx.commit().await?;
        Ok(updated)
    }
}

/// A write transaction. Dropping it without [`ExecutionTx::commit`] rolls everything back.
#[async_trait]
pub trait ExecutionTx: Send {
    /// Reads the execution and holds it exclusively until the transaction ends.
    async fn lock_execution(&mut self, id: Uuid) -> Result<Execution>;

    /// [`ExecutionTx::lock_execution`] for a caller that already holds the document of
    /// version `known_version` (the executor keeps the executions it just stepped): while the
    /// row is still at that version its `document` is [`Value::Null`], neither read nor sent;
    /// otherwise it is the row's, as `lock_execution` gives it.
    async fn lock_execution_unless(&mut self, id: Uuid, known_version: i64) -> Result<Execution>;

    /// Inserts a new execution with version 1.
    async fn insert_execution(&mut self, execution: &Execution) -> Result<Execution>;

    /// [`FlowStore::get_flow`] on the transaction's own connection. A step that reads a flow
    /// (a subflow's) while it holds SQLite's write lock must not need a second connection: the
    /// pool's others may all be waiting for that lock.
    async fn get_flow(
        &mut self,
        namespace: &str,
        id: &str,
        revision: Option<i32>,
    ) -> Result<FlowRecord>;

    /// Writes the execution if its version is `expected_version`; returns it with the new one.
    async fn update_execution(
        &mut self,
        execution: &Execution,
        expected_version: i64,
    ) -> Result<Execution>;

    /// Puts messages on their queues; consumers are woken when the transaction commits.
    /// Returns the messages' ids in the order of `messages`.
    async fn enqueue(&mut self, messages: &[NewMessage]) -> Result<Vec<i64>>;

    /// Deletes consumed messages; returns how many existed.
    async fn ack(&mut self, ids: &[i64]) -> Result<u64>;

    /// A step's whole write: [`ExecutionTx::update_execution`] (without reading the row back),
    /// [`ExecutionTx::enqueue`] and [`ExecutionTx::ack`]. Returns the new messages' ids in the
    /// order of `messages`. On Postgres it is one statement, one round trip instead of three,
    /// on the path every task run takes.
    async fn write_step(
        &mut self,
        execution: &Execution,
        expected_version: i64,
        messages: &[NewMessage],
        acks: &[i64],
    ) -> Result<Vec<i64>> {
        self.update_execution(execution, expected_version).await?;
        let ids = self.enqueue(messages).await?;
        self.ack(acks).await?;
        Ok(ids)
    }

    /// Takes (or queues for) a concurrency slot of the execution's flow, deciding under the
    /// flow's lock; see the `concurrency` module for the design.
    async fn acquire_slot(&mut self, request: &SlotRequest<'_>) -> Result<SlotDecision>;

    /// Gives up the execution's slot, held or queued, and hands every slot now free to the
    /// oldest queued executions of the flow. Returns those it promoted, oldest first: they
    /// hold their slot now, and the caller must wake them (enqueue a step) in this transaction.
    async fn release_slot(
        &mut self,
        namespace: &str,
        flow_id: &str,
        execution_id: Uuid,
    ) -> Result<Vec<Uuid>>;

    /// [`FlowStore::flows_generation`], read inside this transaction.
    async fn flows_generation(&mut self) -> Result<i64>;

    /// Reads the state kept for a trigger (a Flow trigger's preconditions window) and holds it
    /// until the transaction ends, so triggers recorded from several executors take turns.
    /// `None` when nothing is kept.
    async fn lock_trigger_window(&mut self, trigger: &TriggerKey) -> Result<Option<Value>>;

    /// Replaces the state read with [`ExecutionTx::lock_trigger_window`] (`None` clears it).
    async fn save_trigger_window(
        &mut self,
        trigger: &TriggerKey,
        state: Option<&Value>,
    ) -> Result<()>;

    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Reading flow concurrency slots; the executor writes them through [`ExecutionTx`].
#[async_trait]
pub trait ConcurrencyStore: Send + Sync {
    /// The flow's slot rows: the running ones, then the queue in order.
    async fn concurrency_slots(
        &self,
        namespace: &str,
        flow_id: &str,
    ) -> Result<Vec<ConcurrencySlot>>;
}

/// The durable work queue: at-least-once delivery, rows deleted when consumed.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Returns the messages' ids in the order of `messages`.
    async fn enqueue(&self, messages: &[NewMessage]) -> Result<Vec<i64>>;

    /// Claims up to `max` due messages of `queue` in one statement, leasing them to `consumer`.
    /// Order: priority, run_at, id. Per key, only the oldest message is claimable, so messages
    /// with one key are never held by two consumers at once.
    async fn claim(
        &self,
        queue: &str,
        consumer: &str,
        max: u32,
        lease: Duration,
    ) -> Result<Vec<Claimed>>;

    /// Deletes consumed messages; returns how many existed.
    async fn ack(&self, ids: &[i64]) -> Result<u64>;

    /// Releases a claimed message, claimable again from `retry_at`. False if it was not claimed.
    async fn nack(&self, id: i64, retry_at: DateTime<Utc>) -> Result<bool>;

    /// Heartbeat: extends the leases `consumer` still holds; returns their ids. An id missing
    /// from the answer was lost (rescued, maybe claimed by another consumer, or acked).
    async fn renew_leases(&self, consumer: &str, ids: &[i64], lease: Duration) -> Result<Vec<i64>>;

    /// Makes messages whose lease expired claimable again; returns how many.
    async fn rescue_expired(&self) -> Result<u64>;

    /// How many messages `queue` holds, claimed or not.
    async fn queue_len(&self, queue: &str) -> Result<u64>;

    /// A wake-up that fires when messages may have arrived on `queue`. Consumers wait on it
    /// between claims, with a timeout as the polling fallback.
    async fn subscribe(&self, queue: &str) -> Result<Wakeup>;
}

/// Task run logs.
#[async_trait]
pub trait LogStore: Send + Sync {
    async fn append_logs(&self, entries: &[LogEntry]) -> Result<()>;

    /// Up to `limit` lines of the execution after `after` (from the start when `None`), in
    /// write order; follow live by passing back the last record's cursor.
    async fn logs(
        &self,
        execution_id: Uuid,
        after: Option<LogCursor>,
        limit: u32,
    ) -> Result<Vec<LogRecord>>;
}

/// Namespace key-value pairs with an optional time to live.
#[async_trait]
pub trait KvStore: Send + Sync {
    async fn kv_set(
        &self,
        namespace: &str,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
    ) -> Result<()>;

    /// `None` when missing or expired.
    async fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<KvEntry>>;

    /// True if the key existed (expired or not).
    async fn kv_delete(&self, namespace: &str, key: &str) -> Result<bool>;

    /// Live pairs of the namespace, by key.
    async fn kv_list(&self, namespace: &str) -> Result<Vec<KvEntry>>;
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
