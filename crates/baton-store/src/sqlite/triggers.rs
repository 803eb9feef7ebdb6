//! Schedule trigger rows, fire keys and the scheduler's trigger transaction on SQLite.
//!
//! Every write transaction starts with `BEGIN IMMEDIATE` and so holds the database's one write
//! lock: locking a row is reading it, and "skip locked" never skips (one process, one writer).

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, SqliteConnection};
use uuid::Uuid;

use super::executions::SqliteTx;
use super::flows::FlowRow;
use super::{SqliteStore, from_micros, micros, now_micros};
use crate::triggers::SCHEDULER_WAKEUP;
use crate::{
    Backfill, BackfillState, BackfillTx, Error, ExecutionTx, FireRecord, FlowRecord, FlowTriggers,
    NewBackfill, Result, ScheduledFire, TriggerFilter, TriggerKey, TriggerState, TriggerStore,
    TriggerTx,
};

#[derive(FromRow)]
struct TriggerRow {
    namespace: String,
    flow_id: String,
    trigger_id: String,
    flow_revision: i32,
    definition: Json<Value>,
    fingerprint: String,
    next_fire_at: Option<i64>,
    last_fire_at: Option<i64>,
    last_execution_id: Option<String>,
    last_execution_state: Option<String>,
    awaiting_execution: bool,
    disabled: bool,
    updated_at: i64,
}

pub(super) fn parse_uuid(text: &str, what: &'static str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| Error::InvalidData {
        what,
        value: text.to_owned(),
    })
}

impl TryFrom<TriggerRow> for TriggerState {
    type Error = Error;

    fn try_from(row: TriggerRow) -> Result<Self> {
        Ok(Self {
            key: TriggerKey {
                namespace: row.namespace,
                flow_id: row.flow_id,
                trigger_id: row.trigger_id,
            },
            flow_revision: row.flow_revision,
            definition: row.definition.0,
            fingerprint: row.fingerprint,
            next_fire_at: row.next_fire_at.map(from_micros).transpose()?,
            last_fire_at: row.last_fire_at.map(from_micros).transpose()?,
            last_execution_id: row
                .last_execution_id
                .as_deref()
                .map(|id| parse_uuid(id, "execution id"))
                .transpose()?,
            last_execution_state: row
                .last_execution_state
                .as_deref()
                .map(crate::model::parse_state)
                .transpose()?,
            awaiting_execution: row.awaiting_execution,
            disabled: row.disabled,
            updated_at: from_micros(row.updated_at)?,
        })
    }
}

async fn get(conn: &mut SqliteConnection, key: &TriggerKey) -> Result<Option<TriggerState>> {
    let row: Option<TriggerRow> = sqlx::query_as(include_str!("sql/trigger_get.sql"))
        .bind(&key.namespace)
        .bind(&key.flow_id)
        .bind(&key.trigger_id)
        .fetch_optional(conn)
        .await?;
    row.map(TriggerState::try_from).transpose()
}

/// Inserts the fire's key; a date that fired already is [`Error::DuplicateFire`].
pub(super) async fn record_fire(conn: &mut SqliteConnection, fire: &FireRecord) -> Result<()> {
    let origin = fire
        .backfill_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let inserted: Option<String> = sqlx::query_scalar(include_str!("sql/trigger_fire_insert.sql"))
        .bind(&fire.key.namespace)
        .bind(&fire.key.flow_id)
        .bind(&fire.key.trigger_id)
        .bind(micros(fire.fire_date))
        .bind(origin)
        .bind(fire.execution_id.to_string())
        .bind(now_micros())
        .fetch_optional(conn)
        .await?;
    match inserted {
        Some(_) => Ok(()),
        None => Err(Error::DuplicateFire {
            trigger: fire.key.to_string(),
            date: fire.fire_date,
        }),
    }
}

struct SqliteTriggerTx {
    inner: SqliteTx,
    state: TriggerState,
}

#[async_trait]
impl TriggerTx for SqliteTriggerTx {
    fn state(&self) -> &TriggerState {
        &self.state
    }

    async fn update(&mut self, state: &TriggerState) -> Result<()> {
        let key = &self.state.key;
        sqlx::query(include_str!("sql/trigger_update.sql"))
            .bind(&key.namespace)
            .bind(&key.flow_id)
            .bind(&key.trigger_id)
            .bind(state.next_fire_at.map(micros))
            .bind(state.last_fire_at.map(micros))
            .bind(state.last_execution_id.map(|id| id.to_string()))
            .bind(state.awaiting_execution)
            .bind(state.disabled)
            .bind(now_micros())
            .execute(&mut *self.inner.tx)
            .await?;
        Ok(())
    }

    async fn record_fire(&mut self, fire: &FireRecord) -> Result<()> {
        record_fire(&mut self.inner.tx, fire).await
    }

    fn executions(&mut self) -> &mut dyn ExecutionTx {
        &mut self.inner
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        Box::new(self.inner).commit().await
    }
}

#[async_trait]
impl TriggerStore for SqliteStore {
    async fn flows_to_sync(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<FlowRecord>> {
        let rows: Vec<FlowRow> = sqlx::query_as(include_str!("sql/trigger_flows_to_sync.sql"))
            .bind(i64::from(limit))
            .bind(after.map(|(namespace, _)| namespace))
            .bind(after.map(|(_, id)| id))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(FlowRecord::try_from).collect()
    }

    async fn sync_triggers(&self, flows: &[FlowTriggers]) -> Result<usize> {
        let mut tx = self.begin_immediate().await?;
        let now = now_micros();
        let mut synced = 0;
        for flow in flows {
            let marked: Option<i32> = sqlx::query_scalar(include_str!("sql/trigger_sync_mark.sql"))
                .bind(&flow.namespace)
                .bind(&flow.flow_id)
                .bind(flow.revision)
                .fetch_optional(&mut *tx)
                .await?;
            if marked.is_none() {
                continue;
            }
            synced += 1;
            let ids: Vec<&str> = flow
                .triggers
                .iter()
                .map(|t| t.trigger_id.as_str())
                .collect();
            sqlx::query(include_str!("sql/backfill_cancel_gone.sql"))
                .bind(&flow.namespace)
                .bind(&flow.flow_id)
                .bind(Json(&ids))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(include_str!("sql/trigger_sync_delete.sql"))
                .bind(&flow.namespace)
                .bind(&flow.flow_id)
                .bind(Json(&ids))
                .execute(&mut *tx)
                .await?;
            for trigger in &flow.triggers {
                sqlx::query(include_str!("sql/trigger_sync_upsert.sql"))
                    .bind(&flow.namespace)
                    .bind(&flow.flow_id)
                    .bind(&trigger.trigger_id)
                    .bind(flow.revision)
                    .bind(Json(&trigger.definition))
                    .bind(&trigger.fingerprint)
                    .bind(trigger.next_fire_at.map(micros))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(synced)
    }

    async fn list_triggers(&self, filter: &TriggerFilter) -> Result<Vec<TriggerState>> {
        let rows: Vec<TriggerRow> = sqlx::query_as(include_str!("sql/trigger_list.sql"))
            .bind(&filter.namespace_prefix)
            .bind(&filter.flow_id)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(TriggerState::try_from).collect()
    }

    async fn get_trigger(&self, key: &TriggerKey) -> Result<TriggerState> {
        get(&mut *self.pool.acquire().await?, key)
            .await?
            .ok_or_else(|| Error::TriggerNotFound(key.to_string()))
    }

    async fn lock_trigger(
        &self,
        key: &TriggerKey,
        _skip_locked: bool,
    ) -> Result<Option<Box<dyn TriggerTx>>> {
        let mut tx = self.begin_immediate().await?;
        let state = get(&mut tx, key)
            .await?
            .ok_or_else(|| Error::TriggerNotFound(key.to_string()))?;
        Ok(Some(Box::new(SqliteTriggerTx {
            inner: SqliteTx {
                tx,
                wakeups: self.wakeups.clone(),
                enqueued: BTreeSet::new(),
            },
            state,
        })))
    }

    async fn fire_schedules(&self, fires: &[ScheduledFire]) -> Result<Vec<TriggerState>> {
        // One writer at a time: a batch would save no round trips here.
        crate::triggers::fire_schedules_one_by_one(self, fires).await
    }

    async fn ended_executions(&self, ids: &[Uuid]) -> Result<Vec<Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let ended: Vec<String> =
            sqlx::query_scalar(include_str!("sql/trigger_ended_executions.sql"))
                .bind(Json(ids))
                .fetch_all(&self.pool)
                .await?;
        ended
            .iter()
            .map(|id| parse_uuid(id, "execution id"))
            .collect()
    }

    async fn create_backfill(&self, backfill: &NewBackfill) -> Result<Backfill> {
        super::backfills::create(self, backfill).await
    }

    async fn get_backfill(&self, id: Uuid) -> Result<Backfill> {
        super::backfills::get(&mut *self.pool.acquire().await?, id).await
    }

    async fn list_backfills(
        &self,
        key: Option<&TriggerKey>,
        active_only: bool,
    ) -> Result<Vec<Backfill>> {
        super::backfills::list(self, key, active_only).await
    }

    async fn set_backfill_state(
        &self,
        id: Uuid,
        from: &[BackfillState],
        to: BackfillState,
    ) -> Result<Backfill> {
        super::backfills::set_state(self, id, from, to).await
    }

    async fn lock_backfill(
        &self,
        id: Uuid,
        _skip_locked: bool,
    ) -> Result<Option<Box<dyn BackfillTx>>> {
        super::backfills::lock(self, id).await
    }

    async fn notify_schedulers(&self) -> Result<()> {
        self.wakeups.wake(SCHEDULER_WAKEUP);
        Ok(())
    }
}
