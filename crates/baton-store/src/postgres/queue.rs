//! The work queue on Postgres.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgExecutor};

use super::PgStore;
use crate::{Claimed, NewMessage, QueueStore, Result, Wakeup, millis};

#[derive(FromRow)]
struct ClaimedRow {
    id: i64,
    queue: String,
    key: Option<String>,
    payload: Json<Value>,
    attempt: i32,
    lease_expires_at: DateTime<Utc>,
    priority: i16,
    run_at: DateTime<Utc>,
}

/// Inserts the messages and notifies their queues; both take effect at commit.
pub(super) async fn enqueue(conn: &mut PgConnection, messages: &[NewMessage]) -> Result<Vec<i64>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let queues: Vec<&str> = messages.iter().map(|m| m.queue.as_str()).collect();
    let keys: Vec<Option<&str>> = messages.iter().map(|m| m.key.as_deref()).collect();
    let payloads: Vec<Json<&Value>> = messages.iter().map(|m| Json(&m.payload)).collect();
    let priorities: Vec<i16> = messages.iter().map(|m| m.priority).collect();
    let run_ats: Vec<Option<DateTime<Utc>>> = messages.iter().map(|m| m.run_at).collect();
    let ids: Vec<i64> = sqlx::query_scalar(include_str!("sql/queue_enqueue.sql"))
        .bind(&queues)
        .bind(keys)
        .bind(payloads)
        .bind(priorities)
        .bind(run_ats)
        .fetch_all(&mut *conn)
        .await?;
    notify(conn, queues.into_iter().map(str::to_owned).collect()).await?;
    Ok(ids)
}

pub(super) async fn notify(conn: impl PgExecutor<'_>, queues: BTreeSet<String>) -> Result<()> {
    if !queues.is_empty() {
        let queues: Vec<String> = queues.into_iter().collect();
        sqlx::query(include_str!("sql/queue_notify.sql"))
            .bind(queues)
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub(super) async fn ack(conn: impl PgExecutor<'_>, ids: &[i64]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(include_str!("sql/queue_ack.sql"))
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

#[async_trait]
impl QueueStore for PgStore {
    async fn enqueue(&self, messages: &[NewMessage]) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        let ids = enqueue(&mut tx, messages).await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn claim(
        &self,
        queue: &str,
        consumer: &str,
        max: u32,
        lease: Duration,
    ) -> Result<Vec<Claimed>> {
        let mut rows: Vec<ClaimedRow> = sqlx::query_as(include_str!("sql/queue_claim.sql"))
            .bind(queue)
            .bind(consumer)
            .bind(i64::from(max))
            .bind(millis(lease) as f64)
            .fetch_all(&self.pool)
            .await?;
        // RETURNING does not keep the CTE's order.
        rows.sort_by_key(|row| (row.priority, row.run_at, row.id));
        Ok(rows
            .into_iter()
            .map(|row| Claimed {
                id: row.id,
                queue: row.queue,
                key: row.key,
                payload: row.payload.0,
                attempt: row.attempt,
                lease_expires_at: row.lease_expires_at,
            })
            .collect())
    }

    async fn ack(&self, ids: &[i64]) -> Result<u64> {
        ack(&self.pool, ids).await
    }

    async fn nack(&self, id: i64, retry_at: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let queue: Option<String> = sqlx::query_scalar(include_str!("sql/queue_nack.sql"))
            .bind(id)
            .bind(retry_at)
            .fetch_optional(&mut *tx)
            .await?;
        let released = queue.is_some();
        notify(&mut *tx, queue.into_iter().collect()).await?;
        tx.commit().await?;
        Ok(released)
    }

    async fn renew_leases(&self, consumer: &str, ids: &[i64], lease: Duration) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(include_str!("sql/queue_renew.sql"))
            .bind(consumer)
            .bind(ids)
            .bind(millis(lease) as f64)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn rescue_expired(&self) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let queues: Vec<String> = sqlx::query_scalar(include_str!("sql/queue_rescue.sql"))
            .fetch_all(&mut *tx)
            .await?;
        let rescued = queues.len() as u64;
        notify(&mut *tx, queues.into_iter().collect()).await?;
        tx.commit().await?;
        Ok(rescued)
    }

    async fn queue_len(&self, queue: &str) -> Result<u64> {
        let len: i64 = sqlx::query_scalar(include_str!("sql/queue_len.sql"))
            .bind(queue)
            .fetch_one(&self.pool)
            .await?;
        Ok(len.unsigned_abs())
    }

    async fn subscribe(&self, queue: &str) -> Result<Wakeup> {
        Ok(self.subscribe_wakeup(queue))
    }
}
