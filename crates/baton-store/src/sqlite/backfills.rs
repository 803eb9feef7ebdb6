//! Backfills and the scheduler's backfill transaction on SQLite.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, SqliteConnection};
use uuid::Uuid;

use super::executions::SqliteTx;
use super::triggers::parse_uuid;
use super::{SqliteStore, from_micros, micros, now_micros};
use crate::{
    Backfill, BackfillState, BackfillTx, Error, ExecutionTx, FireRecord, NewBackfill, Result,
    TriggerKey,
};

#[derive(FromRow)]
struct BackfillRow {
    id: String,
    namespace: String,
    flow_id: String,
    trigger_id: String,
    start_at: i64,
    end_at: i64,
    next_fire_at: Option<i64>,
    inputs: Json<serde_json::Map<String, Value>>,
    labels: Json<BTreeMap<String, String>>,
    state: String,
    total: i32,
    created: i32,
    ended: i32,
    execution_id: Option<String>,
    execution_state: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<BackfillRow> for Backfill {
    type Error = Error;

    fn try_from(row: BackfillRow) -> Result<Self> {
        Ok(Self {
            id: parse_uuid(&row.id, "backfill id")?,
            key: TriggerKey {
                namespace: row.namespace,
                flow_id: row.flow_id,
                trigger_id: row.trigger_id,
            },
            start: from_micros(row.start_at)?,
            end: from_micros(row.end_at)?,
            next_fire_at: row.next_fire_at.map(from_micros).transpose()?,
            inputs: row.inputs.0,
            labels: row.labels.0,
            state: BackfillState::parse(&row.state)?,
            total: row.total,
            created: row.created,
            ended: row.ended,
            execution_id: row
                .execution_id
                .as_deref()
                .map(|id| parse_uuid(id, "execution id"))
                .transpose()?,
            execution_state: row
                .execution_state
                .as_deref()
                .map(crate::model::parse_state)
                .transpose()?,
            created_at: from_micros(row.created_at)?,
            updated_at: from_micros(row.updated_at)?,
        })
    }
}

pub(super) async fn get(conn: &mut SqliteConnection, id: Uuid) -> Result<Backfill> {
    let row: Option<BackfillRow> = sqlx::query_as(include_str!("sql/backfill_get.sql"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.ok_or(Error::BackfillNotFound(id))?.try_into()
}

pub(super) async fn create(store: &SqliteStore, backfill: &NewBackfill) -> Result<Backfill> {
    let id = Uuid::now_v7();
    let key = &backfill.key;
    let mut conn = store.pool.acquire().await?;
    let inserted: Option<String> = sqlx::query_scalar(include_str!("sql/backfill_insert.sql"))
        .bind(id.to_string())
        .bind(&key.namespace)
        .bind(&key.flow_id)
        .bind(&key.trigger_id)
        .bind(micros(backfill.start))
        .bind(micros(backfill.end))
        .bind(backfill.first_fire_at.map(micros))
        .bind(Json(&backfill.inputs))
        .bind(Json(&backfill.labels))
        .bind(backfill.total)
        .bind(now_micros())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(database) if database.is_unique_violation() => {
                Error::BackfillActive(key.to_string())
            }
            _ => Error::Database(error),
        })?;
    if inserted.is_none() {
        return Err(Error::TriggerNotFound(key.to_string()));
    }
    get(&mut conn, id).await
}

pub(super) async fn list(
    store: &SqliteStore,
    key: Option<&TriggerKey>,
    active_only: bool,
) -> Result<Vec<Backfill>> {
    let rows: Vec<BackfillRow> = sqlx::query_as(include_str!("sql/backfill_list.sql"))
        .bind(key.map(|k| &k.namespace))
        .bind(key.map(|k| &k.flow_id))
        .bind(key.map(|k| &k.trigger_id))
        .bind(active_only)
        .fetch_all(&store.pool)
        .await?;
    rows.into_iter().map(Backfill::try_from).collect()
}

pub(super) async fn set_state(
    store: &SqliteStore,
    id: Uuid,
    from: &[BackfillState],
    to: BackfillState,
) -> Result<Backfill> {
    let mut conn = store.pool.acquire().await?;
    let from: Vec<&str> = from.iter().map(|state| state.as_str()).collect();
    let moved: Option<String> = sqlx::query_scalar(include_str!("sql/backfill_set_state.sql"))
        .bind(id.to_string())
        .bind(Json(&from))
        .bind(to.as_str())
        .bind(now_micros())
        .fetch_optional(&mut *conn)
        .await?;
    let backfill = get(&mut conn, id).await?;
    match moved {
        Some(_) => Ok(backfill),
        None => Err(Error::BackfillState {
            id,
            state: backfill.state.as_str(),
        }),
    }
}

pub(super) async fn lock(store: &SqliteStore, id: Uuid) -> Result<Option<Box<dyn BackfillTx>>> {
    let mut tx = store.begin_immediate().await?;
    let backfill = get(&mut tx, id).await?;
    Ok(Some(Box::new(SqliteBackfillTx {
        inner: SqliteTx {
            tx,
            wakeups: store.wakeups.clone(),
            enqueued: BTreeSet::new(),
        },
        backfill,
    })))
}

struct SqliteBackfillTx {
    inner: SqliteTx,
    backfill: Backfill,
}

#[async_trait]
impl BackfillTx for SqliteBackfillTx {
    fn backfill(&self) -> &Backfill {
        &self.backfill
    }

    async fn update(&mut self, backfill: &Backfill) -> Result<()> {
        sqlx::query(include_str!("sql/backfill_update.sql"))
            .bind(self.backfill.id.to_string())
            .bind(backfill.next_fire_at.map(micros))
            .bind(backfill.created)
            .bind(backfill.execution_id.map(|id| id.to_string()))
            .bind(backfill.state.as_str())
            .bind(now_micros())
            .execute(&mut *self.inner.tx)
            .await?;
        Ok(())
    }

    async fn record_fire(&mut self, fire: &FireRecord) -> Result<()> {
        super::triggers::record_fire(&mut self.inner.tx, fire).await
    }

    fn executions(&mut self) -> &mut dyn ExecutionTx {
        &mut self.inner
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        Box::new(self.inner).commit().await
    }
}
