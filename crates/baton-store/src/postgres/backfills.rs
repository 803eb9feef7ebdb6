//! Backfills and the scheduler's backfill transaction on Postgres.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::PgStore;
use super::executions::PgTx;
use crate::{
    Backfill, BackfillState, BackfillTx, Error, ExecutionTx, FireRecord, NewBackfill, Result,
    TriggerKey,
};

#[derive(FromRow)]
struct BackfillRow {
    id: Uuid,
    namespace: String,
    flow_id: String,
    trigger_id: String,
    start_at: DateTime<Utc>,
    end_at: DateTime<Utc>,
    next_fire_at: Option<DateTime<Utc>>,
    inputs: Json<serde_json::Map<String, Value>>,
    labels: Json<BTreeMap<String, String>>,
    state: String,
    total: i32,
    created: i32,
    ended: i32,
    execution_id: Option<Uuid>,
    execution_state: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<BackfillRow> for Backfill {
    type Error = Error;

    fn try_from(row: BackfillRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            key: TriggerKey {
                namespace: row.namespace,
                flow_id: row.flow_id,
                trigger_id: row.trigger_id,
            },
            start: row.start_at,
            end: row.end_at,
            next_fire_at: row.next_fire_at,
            inputs: row.inputs.0,
            labels: row.labels.0,
            state: BackfillState::parse(&row.state)?,
            total: row.total,
            created: row.created,
            ended: row.ended,
            execution_id: row.execution_id,
            execution_state: row
                .execution_state
                .as_deref()
                .map(crate::model::parse_state)
                .transpose()?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub(super) async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Backfill> {
    let row: Option<BackfillRow> = sqlx::query_as(include_str!("sql/backfill_get.sql"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.ok_or(Error::BackfillNotFound(id))?.try_into()
}

pub(super) async fn create(store: &PgStore, backfill: &NewBackfill) -> Result<Backfill> {
    let id = Uuid::now_v7();
    let key = &backfill.key;
    let mut conn = store.pool.acquire().await?;
    let inserted: Option<Uuid> = sqlx::query_scalar(include_str!("sql/backfill_insert.sql"))
        .bind(id)
        .bind(&key.namespace)
        .bind(&key.flow_id)
        .bind(&key.trigger_id)
        .bind(backfill.start)
        .bind(backfill.end)
        .bind(backfill.first_fire_at)
        .bind(Json(&backfill.inputs))
        .bind(Json(&backfill.labels))
        .bind(backfill.total)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|error| active_conflict(error, key))?;
    if inserted.is_none() {
        return Err(Error::TriggerNotFound(key.to_string()));
    }
    get(&mut conn, id).await
}

/// The unique index on active backfills refused a second one for the trigger.
fn active_conflict(error: sqlx::Error, key: &TriggerKey) -> Error {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            Error::BackfillActive(key.to_string())
        }
        _ => Error::Database(error),
    }
}

pub(super) async fn list(
    store: &PgStore,
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
    store: &PgStore,
    id: Uuid,
    from: &[BackfillState],
    to: BackfillState,
) -> Result<Backfill> {
    let mut conn = store.pool.acquire().await?;
    let from: Vec<&str> = from.iter().map(|state| state.as_str()).collect();
    let moved: Option<Uuid> = sqlx::query_scalar(include_str!("sql/backfill_set_state.sql"))
        .bind(id)
        .bind(&from)
        .bind(to.as_str())
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

pub(super) async fn lock(
    store: &PgStore,
    id: Uuid,
    skip_locked: bool,
) -> Result<Option<Box<dyn BackfillTx>>> {
    let mut tx = store.pool.begin().await?;
    let sql = if skip_locked {
        include_str!("sql/backfill_lock_skip.sql")
    } else {
        include_str!("sql/backfill_lock.sql")
    };
    let row: Option<BackfillRow> = sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    match row {
        Some(row) => Ok(Some(Box::new(PgBackfillTx {
            inner: PgTx {
                tx,
                pool: store.pool.clone(),
                wake: Default::default(),
            },
            backfill: row.try_into()?,
        }))),
        // Skipped or missing: a plain read tells which.
        None if skip_locked => get(&mut tx, id).await.map(|_| None),
        None => Err(Error::BackfillNotFound(id)),
    }
}

struct PgBackfillTx {
    inner: PgTx,
    backfill: Backfill,
}

#[async_trait]
impl BackfillTx for PgBackfillTx {
    fn backfill(&self) -> &Backfill {
        &self.backfill
    }

    async fn update(&mut self, backfill: &Backfill) -> Result<()> {
        sqlx::query(include_str!("sql/backfill_update.sql"))
            .bind(self.backfill.id)
            .bind(backfill.next_fire_at)
            .bind(backfill.created)
            .bind(backfill.execution_id)
            .bind(backfill.state.as_str())
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
        // The execution's first message wakes the executors once committed, as a step's does.
        Box::new(self.inner).commit().await
    }
}
