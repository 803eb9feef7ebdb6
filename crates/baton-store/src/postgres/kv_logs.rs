//! Logs and KV on Postgres.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::PgStore;
use crate::{KvEntry, KvStore, LogCursor, LogEntry, LogRecord, LogStore, Result, millis};

#[derive(FromRow)]
struct LogRow {
    tx: i64,
    id: i64,
    execution_id: Uuid,
    task_run_id: Option<String>,
    attempt: i32,
    level: String,
    timestamp: DateTime<Utc>,
    message: String,
}

#[derive(FromRow)]
struct KvRow {
    namespace: String,
    key: String,
    value: Json<Value>,
    expires_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl From<KvRow> for KvEntry {
    fn from(row: KvRow) -> Self {
        Self {
            namespace: row.namespace,
            key: row.key,
            value: row.value.0,
            expires_at: row.expires_at,
            updated_at: row.updated_at,
        }
    }
}

#[async_trait]
impl LogStore for PgStore {
    async fn append_logs(&self, entries: &[LogEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let execution_ids: Vec<Uuid> = entries.iter().map(|e| e.execution_id).collect();
        let task_run_ids: Vec<Option<&str>> =
            entries.iter().map(|e| e.task_run_id.as_deref()).collect();
        let attempts: Vec<i32> = entries.iter().map(|e| e.attempt).collect();
        let levels: Vec<&str> = entries.iter().map(|e| e.level.as_str()).collect();
        let timestamps: Vec<DateTime<Utc>> = entries.iter().map(|e| e.timestamp).collect();
        let messages: Vec<&str> = entries.iter().map(|e| e.message.as_str()).collect();
        // One statement in its own transaction, whose commit does not wait for the disk: log
        // lines a Postgres crash loses do no harm, and the next durable commit (the step that
        // ends their task run) puts them on disk too, the WAL being written in order.
        sqlx::query(include_str!("sql/log_append.sql"))
            .bind(execution_ids)
            .bind(task_run_ids)
            .bind(attempts)
            .bind(levels)
            .bind(timestamps)
            .bind(messages)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn logs(
        &self,
        execution_id: Uuid,
        after: Option<LogCursor>,
        limit: u32,
    ) -> Result<Vec<LogRecord>> {
        let after = after.unwrap_or_default();
        let rows: Vec<LogRow> = sqlx::query_as(include_str!("sql/log_list.sql"))
            .bind(execution_id)
            .bind(after.tx)
            .bind(after.id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(LogRecord {
                    cursor: LogCursor {
                        tx: row.tx,
                        id: row.id,
                    },
                    entry: LogEntry {
                        execution_id: row.execution_id,
                        task_run_id: row.task_run_id,
                        attempt: row.attempt,
                        level: row.level.parse()?,
                        timestamp: row.timestamp,
                        message: row.message,
                    },
                })
            })
            .collect()
    }
}

#[async_trait]
impl KvStore for PgStore {
    async fn kv_set(
        &self,
        namespace: &str,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
    ) -> Result<()> {
        sqlx::query(include_str!("sql/kv_set.sql"))
            .bind(namespace)
            .bind(key)
            .bind(Json(value))
            .bind(ttl.map(|ttl| millis(ttl) as f64))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<KvEntry>> {
        let row: Option<KvRow> = sqlx::query_as(include_str!("sql/kv_get.sql"))
            .bind(namespace)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(KvEntry::from))
    }

    async fn kv_delete(&self, namespace: &str, key: &str) -> Result<bool> {
        let done = sqlx::query(include_str!("sql/kv_delete.sql"))
            .bind(namespace)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn kv_list(&self, namespace: &str) -> Result<Vec<KvEntry>> {
        let rows: Vec<KvRow> = sqlx::query_as(include_str!("sql/kv_list.sql"))
            .bind(namespace)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(KvEntry::from).collect())
    }
}
