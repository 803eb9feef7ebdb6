//! Flow concurrency slots on Postgres: every decision runs under the flow's row lock in
//! `concurrency_locks`, inside the executor's step transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::PgStore;
use crate::concurrency::{SlotFacts, SlotWrite, decide};
use crate::{
    ConcurrencySlot, ConcurrencyStore, Result, SlotDecision, SlotRequest, SlotState, TriggerKey,
};

async fn lock_flow(conn: &mut PgConnection, namespace: &str, flow_id: &str) -> Result<()> {
    sqlx::query(include_str!("sql/concurrency_lock.sql"))
        .bind(namespace)
        .bind(flow_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) async fn acquire(
    conn: &mut PgConnection,
    request: &SlotRequest<'_>,
) -> Result<SlotDecision> {
    lock_flow(conn, request.namespace, request.flow_id).await?;
    let (mine, running, queued_ahead): (Option<String>, i64, i64) =
        sqlx::query_as(include_str!("sql/concurrency_facts.sql"))
            .bind(request.namespace)
            .bind(request.flow_id)
            .bind(request.execution_id)
            .bind(request.queued_at)
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
                .bind(request.execution_id)
                .bind(request.namespace)
                .bind(request.flow_id)
                .bind(state.as_str())
                .bind(i32::try_from(request.limit).unwrap_or(i32::MAX))
                .bind(request.queued_at)
                .execute(&mut *conn)
                .await?;
        }
        SlotWrite::Remove => delete(conn, request.execution_id).await?,
    }
    Ok(decision)
}

async fn delete(conn: &mut PgConnection, execution_id: Uuid) -> Result<()> {
    sqlx::query(include_str!("sql/concurrency_delete.sql"))
        .bind(execution_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) async fn release(
    conn: &mut PgConnection,
    namespace: &str,
    flow_id: &str,
    execution_id: Uuid,
) -> Result<Vec<Uuid>> {
    lock_flow(conn, namespace, flow_id).await?;
    delete(conn, execution_id).await?;
    let mut promoted = Vec::new();
    // Each round promotes the head of the queue or stops; a lowered limit may free none.
    while let Some(id) = sqlx::query_scalar::<_, Uuid>(include_str!("sql/concurrency_promote.sql"))
        .bind(namespace)
        .bind(flow_id)
        .fetch_optional(&mut *conn)
        .await?
    {
        promoted.push(id);
    }
    Ok(promoted)
}

#[derive(FromRow)]
struct SlotRow {
    execution_id: Uuid,
    namespace: String,
    flow_id: String,
    state: String,
    slot_limit: i32,
    queued_at: DateTime<Utc>,
}

#[async_trait]
impl ConcurrencyStore for PgStore {
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
                    execution_id: row.execution_id,
                    namespace: row.namespace,
                    flow_id: row.flow_id,
                    state: SlotState::parse(&row.state)?,
                    limit: u32::try_from(row.slot_limit).unwrap_or(1),
                    queued_at: row.queued_at,
                })
            })
            .collect()
    }
}

pub(super) async fn flows_generation(conn: &mut PgConnection) -> Result<i64> {
    Ok(sqlx::query_scalar(include_str!("sql/flow_generation.sql"))
        .fetch_one(conn)
        .await?)
}

pub(super) async fn lock_trigger_window(
    conn: &mut PgConnection,
    trigger: &TriggerKey,
) -> Result<Option<Value>> {
    let state: Option<Json<Value>> =
        sqlx::query_scalar(include_str!("sql/trigger_window_lock.sql"))
            .bind(&trigger.namespace)
            .bind(&trigger.flow_id)
            .bind(&trigger.trigger_id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(state.map(|json| json.0))
}

pub(super) async fn save_trigger_window(
    conn: &mut PgConnection,
    trigger: &TriggerKey,
    state: Option<&Value>,
) -> Result<()> {
    sqlx::query(include_str!("sql/trigger_window_save.sql"))
        .bind(&trigger.namespace)
        .bind(&trigger.flow_id)
        .bind(&trigger.trigger_id)
        .bind(state.map(Json))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
