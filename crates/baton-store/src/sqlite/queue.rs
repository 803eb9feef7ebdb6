//! The work queue on SQLite.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, SqliteConnection, SqliteExecutor};

use super::{SqliteStore, duration_micros, from_micros, micros, now_micros};
use crate::{Claimed, Error, NewMessage, QueueStore, Result, Wakeup};

#[derive(FromRow)]
struct ClaimedRow {
    id: i64,
    queue: String,
    key: Option<String>,
    payload: Json<Value>,
    attempt: i32,
    lease_expires_at: i64,
    priority: i16,
    run_at: i64,
}

pub(super) async fn enqueue(
    conn: &mut SqliteConnection,
    messages: &[NewMessage],
) -> Result<Vec<i64>> {
    let now = now_micros();
    let mut ids = Vec::with_capacity(messages.len());
    for message in messages {
        let id: i64 = sqlx::query_scalar(include_str!("sql/queue_enqueue.sql"))
            .bind(&message.queue)
            .bind(&message.key)
            .bind(Json(&message.payload))
            .bind(message.priority)
            .bind(message.run_at.map(micros))
            .bind(now)
            .bind(
                message
                    .claimed_by
                    .as_ref()
                    .map(|(consumer, _)| consumer.as_str()),
            )
            .bind(
                message
                    .claimed_by
                    .as_ref()
                    .map(|(_, lease)| duration_micros(*lease)),
            )
            .fetch_one(&mut *conn)
            .await?;
        ids.push(id);
    }
    Ok(ids)
}

pub(super) async fn ack(conn: impl SqliteExecutor<'_>, ids: &[i64]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(include_str!("sql/queue_ack.sql"))
        .bind(Json(ids))
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

#[async_trait]
impl QueueStore for SqliteStore {
    async fn enqueue(&self, messages: &[NewMessage]) -> Result<Vec<i64>> {
        let mut tx = self.begin_immediate().await?;
        let ids = enqueue(&mut tx, messages).await?;
        tx.commit().await?;
        for queue in messages
            .iter()
            .filter(|m| m.wakes())
            .map(|m| m.queue.as_str())
            .collect::<BTreeSet<_>>()
        {
            self.wakeups.wake(queue);
        }
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
            .bind(duration_micros(lease))
            .bind(now_micros())
            .fetch_all(&self.pool)
            .await?;
        rows.sort_by_key(|row| (row.priority, row.run_at, row.id));
        rows.into_iter()
            .map(|row| {
                Ok(Claimed {
                    id: row.id,
                    queue: row.queue,
                    key: row.key,
                    payload: row.payload.0,
                    attempt: row.attempt,
                    lease_expires_at: from_micros(row.lease_expires_at)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()
    }

    async fn ack(&self, ids: &[i64]) -> Result<u64> {
        ack(&self.pool, ids).await
    }

    async fn nack(&self, id: i64, retry_at: DateTime<Utc>) -> Result<bool> {
        let queue: Option<String> = sqlx::query_scalar(include_str!("sql/queue_nack.sql"))
            .bind(id)
            .bind(micros(retry_at))
            .fetch_optional(&self.pool)
            .await?;
        if let Some(queue) = &queue {
            self.wakeups.wake(queue);
        }
        Ok(queue.is_some())
    }

    async fn renew_leases(&self, consumer: &str, ids: &[i64], lease: Duration) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(include_str!("sql/queue_renew.sql"))
            .bind(consumer)
            .bind(Json(ids))
            .bind(duration_micros(lease))
            .bind(now_micros())
            .fetch_all(&self.pool)
            .await?)
    }

    async fn rescue_expired(&self) -> Result<u64> {
        let queues: Vec<String> = sqlx::query_scalar(include_str!("sql/queue_rescue.sql"))
            .bind(now_micros())
            .fetch_all(&self.pool)
            .await?;
        for queue in queues.iter().collect::<BTreeSet<_>>() {
            self.wakeups.wake(queue);
        }
        Ok(queues.len() as u64)
    }

    async fn queue_len(&self, queue: &str) -> Result<u64> {
        let len: i64 = sqlx::query_scalar(include_str!("sql/queue_len.sql"))
            .bind(queue)
            .fetch_one(&self.pool)
            .await?;
        Ok(len.unsigned_abs())
    }

    async fn subscribe(&self, queue: &str) -> Result<Wakeup> {
        Ok(self.wakeups.subscribe(queue))
    }
}
