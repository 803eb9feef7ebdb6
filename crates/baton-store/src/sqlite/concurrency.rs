//! Flow concurrency slots on SQLite: the transaction's write lock (`BEGIN IMMEDIATE`) already
//! serializes every decision; the statements mirror the Postgres ones.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, SqliteConnection};
use uuid::Uuid;

use super::{SqliteStore, from_micros, micros};
use crate::concurrency::{SlotFacts, SlotWrite, decide};
use crate::{
    ConcurrencySlot, ConcurrencyStore, Error, Result, SlotDecision, SlotRequest, SlotState,
    TriggerKey,
};

pub(super) async fn acquire(
    conn: &mut SqliteConnection,
    request: &SlotRequest<'_>,
) -> Result<SlotDecision> {
    sqlx::query(include_str!("sql/concurrency_lock.sql"))
        .bind(request.namespace)
        .bind(request.flow_id)
        .execute(&mut *conn)
        .await?;
    let (mine, running, queued_ahead): (Option<String>, i64, i64) =
        sqlx::query_as(include_str!("sql/concurrency_facts.sql"))
            .bind(request.namespace)
            .bind(request.flow_id)
            .bind(request.execution_id.to_string())
            .bind(micros(request.queued_at))
            .fetch_one(&mut *conn)
            .await?;
    let facts = SlotFacts {
        mine: mine.as_deref().map(SlotState::parse).transpose()?,
        running,
        queued_ahead,
    };
    let (decision, write) = decide(request, facts);
    match write {
        SlotWrite::Keep => {}
        SlotWrite::Upsert(state) => {
            sqlx::query(include_str!("sql/concurrency_upsert.sql"))
                .bind(request.execution_id.to_string())
                .bind(request.namespace)
                .bind(request.flow_id)
                .bind(state.as_str())
                .bind(i64::from(request.limit))
                .bind(micros(request.queued_at))
                .execute(&mut *conn)
                .await?;
        }
        SlotWrite::Remove => delete(conn, request.execution_id).await?,
    }
    Ok(decision)
}

async fn delete(conn: &mut SqliteConnection, execution_id: Uuid) -> Result<()> {
    sqlx::query(include_str!("sql/concurrency_delete.sql"))
        .bind(execution_id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) async fn release(
    conn: &mut SqliteConnection,
    namespace: &str,
    flow_id: &str,
    execution_id: Uuid,
) -> Result<Vec<Uuid>> {
    delete(conn, execution_id).await?;
    let mut promoted = Vec::new();
    while let Some(id) =
        sqlx::query_scalar::<_, String>(include_str!("sql/concurrency_promote.sql"))
            .bind(namespace)
            .bind(flow_id)
            .fetch_optional(&mut *conn)
            .await?
    {
        promoted.push(parse_id(&id)?);
    }
    Ok(promoted)
}

fn parse_id(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| Error::InvalidData {
        what: "execution id",
        value: text.to_owned(),
    })
}

#[derive(FromRow)]
struct SlotRow {
    execution_id: String,
    namespace: String,
    flow_id: String,
    state: String,
    slot_limit: i64,
    queued_at: i64,
}

#[async_trait]
impl ConcurrencyStore for SqliteStore {
    async fn concurrency_slots(
        &self,
        namespace: &str,
        flow_id: &str,
    ) -> Result<Vec<ConcurrencySlot>> {
        let rows: Vec<SlotRow> = sqlx::query_as(include_str!("sql/concurrency_list.sql"))
            .bind(namespace)
            .bind(flow_id)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(ConcurrencySlot {
                    execution_id: parse_id(&row.execution_id)?,
                    namespace: row.namespace,
                    flow_id: row.flow_id,
                    state: SlotState::parse(&row.state)?,
                    limit: u32::try_from(row.slot_limit).unwrap_or(1),
                    queued_at: from_micros(row.queued_at)?,
                })
            })
            .collect()
    }
}

pub(super) async fn flows_generation(conn: &mut SqliteConnection) -> Result<i64> {
    Ok(sqlx::query_scalar(include_str!("sql/flow_generation.sql"))
        .fetch_one(conn)
        .await?)
}

pub(super) async fn lock_trigger_window(
    conn: &mut SqliteConnection,
    trigger: &TriggerKey,
) -> Result<Option<Value>> {
    let state: Option<Json<Value>> =
        sqlx::query_scalar(include_str!("sql/trigger_window_lock.sql"))
            .bind(&trigger.namespace)
            .bind(&trigger.flow_id)
            .bind(&trigger.trigger_id)
            .bind(super::now_micros())
            .fetch_one(&mut *conn)
            .await?;
    Ok(state.map(|json| json.0))
}

pub(super) async fn save_trigger_window(
    conn: &mut SqliteConnection,
    trigger: &TriggerKey,
    state: Option<&Value>,
) -> Result<()> {
    sqlx::query(include_str!("sql/trigger_window_save.sql"))
        .bind(&trigger.namespace)
        .bind(&trigger.flow_id)
        .bind(&trigger.trigger_id)
        .bind(state.map(Json))
        .bind(super::now_micros())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
