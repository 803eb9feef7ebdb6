//! Logs and KV on SQLite.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{SqliteStore, duration_micros, from_micros, micros, now_micros};
use crate::{Error, KvEntry, KvStore, LogCursor, LogEntry, LogRecord, LogStore, Result};

#[derive(FromRow)]
struct LogRow {
    id: i64,
    execution_id: String,
    task_run_id: Option<String>,
    attempt: i32,
    level: String,
    timestamp: i64,
    message: String,
}

#[derive(FromRow)]
struct KvRow {
    namespace: String,
    key: String,
    value: Json<Value>,
    expires_at: Option<i64>,
    updated_at: i64,
}

impl TryFrom<KvRow> for KvEntry {
    type Error = Error;

    fn try_from(row: KvRow) -> Result<Self> {
        Ok(Self {
            namespace: row.namespace,
            key: row.key,
            value: row.value.0,
            expires_at: row.expires_at.map(from_micros).transpose()?,
            updated_at: from_micros(row.updated_at)?,
        })
    }
}

#[async_trait]
impl LogStore for SqliteStore {
    async fn append_logs(&self, entries: &[LogEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_immediate().await?;
        for entry in entries {
            sqlx::query(include_str!("sql/log_append.sql"))
                .bind(entry.execution_id.to_string())
                .bind(&entry.task_run_id)
                .bind(entry.attempt)
                .bind(entry.level.as_str())
                .bind(micros(entry.timestamp))
                .bind(&entry.message)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn logs(
        &self,
        execution_id: Uuid,
        after: Option<LogCursor>,
        limit: u32,
    ) -> Result<Vec<LogRecord>> {
        let rows: Vec<LogRow> = sqlx::query_as(include_str!("sql/log_list.sql"))
            .bind(execution_id.to_string())
            .bind(after.unwrap_or_default().id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(LogRecord {
                    cursor: LogCursor { tx: 0, id: row.id },
                    entry: LogEntry {
                        execution_id: Uuid::parse_str(&row.execution_id).map_err(|_| {
                            Error::InvalidData {
                                what: "execution id",
                                value: row.execution_id,
                            }
                        })?,
                        task_run_id: row.task_run_id,
                        attempt: row.attempt,
                        level: row.level.parse()?,
                        timestamp: from_micros(row.timestamp)?,
                        message: row.message,
                    },
                })
            })
            .collect()
    }
}

#[async_trait]
impl KvStore for SqliteStore {
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
            .bind(ttl.map(duration_micros))
            .bind(now_micros())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<KvEntry>> {
        let row: Option<KvRow> = sqlx::query_as(include_str!("sql/kv_get.sql"))
            .bind(namespace)
            .bind(key)
            .bind(now_micros())
            .fetch_optional(&self.pool)
            .await?;
        row.map(KvEntry::try_from).transpose()
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
            .bind(now_micros())
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(KvEntry::try_from).collect()
    }
}
