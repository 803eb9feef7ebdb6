//! The work queue on Postgres.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool};

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

/// The messages as the column arrays `queue_enqueue.sql` (and `execution_write_step.sql`)
/// unnest, in the messages' order.
pub(super) struct MessageColumns<'a> {
    pub queues: Vec<&'a str>,
    pub keys: Vec<Option<&'a str>>,
    pub payloads: Vec<Json<&'a Value>>,
    pub priorities: Vec<i16>,
    pub run_ats: Vec<Option<DateTime<Utc>>>,
    pub consumers: Vec<Option<&'a str>>,
    pub leases_ms: Vec<Option<f64>>,
}

impl<'a> MessageColumns<'a> {
    pub(super) fn of(messages: &'a [NewMessage]) -> Self {
        Self {
            queues: messages.iter().map(|m| m.queue.as_str()).collect(),
            keys: messages.iter().map(|m| m.key.as_deref()).collect(),
            payloads: messages.iter().map(|m| Json(&m.payload)).collect(),
            priorities: messages.iter().map(|m| m.priority).collect(),
            run_ats: messages.iter().map(|m| m.run_at).collect(),
            consumers: messages
                .iter()
                .map(|m| m.claimed_by.as_ref().map(|(consumer, _)| consumer.as_str()))
                .collect(),
            leases_ms: messages
                .iter()
                .map(|m| {
                    m.claimed_by
                        .as_ref()
                        .map(|(_, lease)| millis(*lease) as f64)
                })
                .collect(),
        }
    }
}

/// Inserts the messages. The caller wakes their consumers once the transaction committed
/// ([`to_wake`], [`notify_committed`]).
pub(super) async fn enqueue(conn: &mut PgConnection, messages: &[NewMessage]) -> Result<Vec<i64>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let columns = MessageColumns::of(messages);
    let ids: Vec<i64> = sqlx::query_scalar(include_str!("sql/queue_enqueue.sql"))
        .bind(columns.queues)
        .bind(columns.keys)
        .bind(columns.payloads)
        .bind(columns.priorities)
        .bind(columns.run_ats)
        .bind(columns.consumers)
        .bind(columns.leases_ms)
        .fetch_all(&mut *conn)
        .await?;
    // Rows are inserted in the messages' order and identity values only grow, so sorted ids
    // are in the messages' order too.
    let mut ids = ids;
    ids.sort_unstable();
    Ok(ids)
}

/// The queues whose consumers must hear of `messages` (not those enqueued already claimed).
pub(super) fn to_wake(messages: &[NewMessage]) -> BTreeSet<String> {
    messages
        .iter()
        .filter(|m| m.wakes())
        .map(|m| m.queue.clone())
        .collect()
}

/// Wakes the consumers of `queues` after the transaction that enqueued to them committed. It
/// cannot fail the enqueue, which has happened: a lost wake-up (a crash just before, a broken
/// connection) delays the messages to the consumers' next poll, it loses none.
pub(super) async fn notify_committed(pool: &PgPool, queues: BTreeSet<String>) {
    if queues.is_empty() {
        return;
    }
    let queues: Vec<String> = queues.into_iter().collect();
    let _ = sqlx::query(include_str!("sql/queue_notify_committed.sql"))
        .bind(queues)
        .execute(pool)
        .await;
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
        notify_committed(&self.pool, to_wake(messages)).await;
        Ok(ids)
    }

    async fn claim(
        &self,
        queue: &str,
        consumer: &str,
        max: u32,
        lease: Duration,
    ) -> Result<Vec<Claimed>> {
        // One statement in its own transaction, whose commit does not wait for the disk: a
        // claim a Postgres crash loses leaves the message claimable again (delivery is
        // at-least-once anyway), and nothing durable rests on it alone — the WAL is written in
        // order, so the durable commit that acks the message puts the claim on disk too. One
        // durable commit costs milliseconds; this costs one round trip.
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
