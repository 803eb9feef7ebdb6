//! Schedule trigger rows, fire keys and the scheduler's trigger transaction on Postgres.

use std::collections::{BTreeSet, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::executions::PgTx;
use super::flows::FlowRow;
use super::{PgStore, queue};
use crate::triggers::SCHEDULER_WAKEUP;
use crate::{
    Backfill, BackfillState, BackfillTx, Error, ExecutionTx, FireRecord, FlowRecord, FlowTriggers,
    NewBackfill, Result, ScheduledFire, TriggerFilter, TriggerKey, TriggerState, TriggerStore,
    TriggerSync, TriggerTx,
};

#[derive(FromRow)]
pub(super) struct TriggerRow {
    namespace: String,
    flow_id: String,
    trigger_id: String,
    flow_revision: i32,
    definition: Json<Value>,
    fingerprint: String,
    next_fire_at: Option<DateTime<Utc>>,
    last_fire_at: Option<DateTime<Utc>>,
    last_execution_id: Option<Uuid>,
    last_execution_state: Option<String>,
    awaiting_execution: bool,
    disabled: bool,
    updated_at: DateTime<Utc>,
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
            next_fire_at: row.next_fire_at,
            last_fire_at: row.last_fire_at,
            last_execution_id: row.last_execution_id,
            last_execution_state: row
                .last_execution_state
                .as_deref()
                .map(crate::model::parse_state)
                .transpose()?,
            awaiting_execution: row.awaiting_execution,
            disabled: row.disabled,
            updated_at: row.updated_at,
        })
    }
}

async fn get(conn: &mut PgConnection, key: &TriggerKey) -> Result<Option<TriggerState>> {
    let row: Option<TriggerRow> = sqlx::query_as(include_str!("sql/trigger_get.sql"))
        .bind(&key.namespace)
        .bind(&key.flow_id)
        .bind(&key.trigger_id)
        .fetch_optional(conn)
        .await?;
    row.map(TriggerState::try_from).transpose()
}

fn trigger_not_found(key: &TriggerKey) -> Error {
    Error::TriggerNotFound(key.to_string())
}

/// Inserts the fire's key; a date that fired already is [`Error::DuplicateFire`].
pub(super) async fn record_fire(conn: &mut PgConnection, fire: &FireRecord) -> Result<()> {
    let origin = fire
        .backfill_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let inserted: Option<Uuid> = sqlx::query_scalar(include_str!("sql/trigger_fire_insert.sql"))
        .bind(&fire.key.namespace)
        .bind(&fire.key.flow_id)
        .bind(&fire.key.trigger_id)
        .bind(fire.fire_date)
        .bind(origin)
        .bind(fire.execution_id)
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

/// The scheduler's (or the API's) transaction on one trigger row.
struct PgTriggerTx {
    inner: PgTx,
    state: TriggerState,
}

#[async_trait]
impl TriggerTx for PgTriggerTx {
    fn state(&self) -> &TriggerState {
        &self.state
    }

    async fn update(&mut self, state: &TriggerState) -> Result<()> {
        let key = &self.state.key;
        sqlx::query(include_str!("sql/trigger_update.sql"))
            .bind(&key.namespace)
            .bind(&key.flow_id)
            .bind(&key.trigger_id)
            .bind(state.next_fire_at)
            .bind(state.last_fire_at)
            .bind(state.last_execution_id)
            .bind(state.awaiting_execution)
            .bind(state.disabled)
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
        // The execution's first message wakes the executors once committed, as a step's does.
        Box::new(self.inner).commit().await
    }
}

#[async_trait]
impl TriggerStore for PgStore {
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
        Ok(rows.into_iter().map(FlowRecord::from).collect())
    }

    async fn sync_triggers(&self, flows: &[FlowTriggers]) -> Result<usize> {
        if flows.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let namespaces: Vec<&str> = flows.iter().map(|f| f.namespace.as_str()).collect();
        let ids: Vec<&str> = flows.iter().map(|f| f.flow_id.as_str()).collect();
        let revisions: Vec<i32> = flows.iter().map(|f| f.revision).collect();
        let marked: Vec<(String, String)> =
            sqlx::query_as(include_str!("sql/trigger_sync_mark.sql"))
                .bind(&namespaces)
                .bind(&ids)
                .bind(&revisions)
                .fetch_all(&mut *tx)
                .await?;
        let marked: HashSet<(&str, &str)> = marked
            .iter()
            .map(|(namespace, id)| (namespace.as_str(), id.as_str()))
            .collect();
        let synced: Vec<&FlowTriggers> = flows
            .iter()
            .filter(|f| marked.contains(&(f.namespace.as_str(), f.flow_id.as_str())))
            .collect();
        if synced.is_empty() {
            return Ok(0);
        }
        let flow_namespaces: Vec<&str> = synced.iter().map(|f| f.namespace.as_str()).collect();
        let flow_ids: Vec<&str> = synced.iter().map(|f| f.flow_id.as_str()).collect();
        let rows: Vec<(&FlowTriggers, &TriggerSync)> = synced
            .iter()
            .flat_map(|flow| flow.triggers.iter().map(move |trigger| (*flow, trigger)))
            .collect();
        let row_namespaces: Vec<&str> = rows.iter().map(|(f, _)| f.namespace.as_str()).collect();
        let row_flows: Vec<&str> = rows.iter().map(|(f, _)| f.flow_id.as_str()).collect();
        let row_triggers: Vec<&str> = rows.iter().map(|(_, t)| t.trigger_id.as_str()).collect();
        for sql in [
            include_str!("sql/backfill_cancel_gone.sql"),
            include_str!("sql/trigger_sync_delete.sql"),
        ] {
            sqlx::query(sql)
                .bind(&flow_namespaces)
                .bind(&flow_ids)
                .bind(&row_namespaces)
                .bind(&row_flows)
                .bind(&row_triggers)
                .execute(&mut *tx)
                .await?;
        }
        if !rows.is_empty() {
            let revisions: Vec<i32> = rows.iter().map(|(f, _)| f.revision).collect();
            let definitions: Vec<Json<&Value>> =
                rows.iter().map(|(_, t)| Json(&t.definition)).collect();
            let fingerprints: Vec<&str> =
                rows.iter().map(|(_, t)| t.fingerprint.as_str()).collect();
            let next: Vec<Option<DateTime<Utc>>> =
                rows.iter().map(|(_, t)| t.next_fire_at).collect();
            sqlx::query(include_str!("sql/trigger_sync_upsert.sql"))
                .bind(&row_namespaces)
                .bind(&row_flows)
                .bind(&row_triggers)
                .bind(revisions)
                .bind(definitions)
                .bind(fingerprints)
                .bind(next)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(synced.len())
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
            .ok_or_else(|| trigger_not_found(key))
    }

    async fn lock_trigger(
        &self,
        key: &TriggerKey,
        skip_locked: bool,
    ) -> Result<Option<Box<dyn TriggerTx>>> {
        let mut tx = self.pool.begin().await?;
        let sql = if skip_locked {
            include_str!("sql/trigger_lock_skip.sql")
        } else {
            include_str!("sql/trigger_lock.sql")
        };
        let row: Option<TriggerRow> = sqlx::query_as(sql)
            .bind(&key.namespace)
            .bind(&key.flow_id)
            .bind(&key.trigger_id)
            .fetch_optional(&mut *tx)
            .await?;
        match row {
            Some(row) => Ok(Some(Box::new(PgTriggerTx {
                inner: PgTx {
                    tx,
                    pool: self.pool.clone(),
                    wake: Default::default(),
                },
                state: row.try_into()?,
            }))),
            // Skipped or missing: a plain read (which no row lock blocks) tells which.
            None if skip_locked && get(&mut tx, key).await?.is_some() => Ok(None),
            None => Err(trigger_not_found(key)),
        }
    }

    async fn fire_schedules(&self, fires: &[ScheduledFire]) -> Result<Vec<TriggerState>> {
        super::triggers_fire::fire_schedules_at(self, fires, Box::pin(async {})).await
    }

    async fn fire_schedules_at(
        &self,
        fires: &[ScheduledFire],
        date: crate::Date<'_>,
    ) -> Result<Vec<TriggerState>> {
        super::triggers_fire::fire_schedules_at(self, fires, date).await
    }

    async fn prepare_fire_schedules(&self) -> Result<()> {
        super::triggers_fire::prepare(self).await
    }

    async fn ended_executions(&self, ids: &[Uuid]) -> Result<Vec<Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(
            sqlx::query_scalar(include_str!("sql/trigger_ended_executions.sql"))
                .bind(ids)
                .fetch_all(&self.pool)
                .await?,
        )
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
        skip_locked: bool,
    ) -> Result<Option<Box<dyn BackfillTx>>> {
        super::backfills::lock(self, id, skip_locked).await
    }

    async fn notify_schedulers(&self) -> Result<()> {
        queue::notify(&self.pool, BTreeSet::from([SCHEDULER_WAKEUP.to_owned()])).await
    }
}
