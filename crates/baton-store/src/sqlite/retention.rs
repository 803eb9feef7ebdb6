//! Retention on SQLite: see the `retention` module for the design. Each batch runs under
//! `BEGIN IMMEDIATE`, the database's write lock, so it is kept short by the batch size.

use async_trait::async_trait;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::{SqliteStore, micros};
use crate::{
    Error, LogPurgeFilter, PurgeBatch, PurgeFilter, PurgedExecution, Result, RetentionStore,
};

#[derive(FromRow)]
struct PurgedRow {
    id: String,
    namespace: String,
    flow_id: String,
}

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn purge_executions(&self, filter: &PurgeFilter, limit: u32) -> Result<PurgeBatch> {
        let states = filter.terminal_states();
        if states.is_empty() || limit == 0 {
            return Ok(PurgeBatch::default());
        }
        let mut tx = self.begin_immediate().await?;
        let rows: Vec<PurgedRow> =
            sqlx::query_as(include_str!("sql/retention_executions_select.sql"))
                .bind(micros(filter.ended_before))
                .bind(Json(&states))
                .bind(filter.namespace.as_deref())
                .bind(filter.flow_id.as_deref())
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
        if rows.is_empty() {
            return Ok(PurgeBatch::default());
        }
        let ids = Json(rows.iter().map(|row| row.id.as_str()).collect::<Vec<_>>());
        let logs = sqlx::query(include_str!("sql/retention_delete_execution_logs.sql"))
            .bind(&ids)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let queue_messages =
            sqlx::query(include_str!("sql/retention_delete_execution_messages.sql"))
                .bind(&ids)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        for statement in [
            include_str!("sql/retention_delete_execution_slots.sql"),
            include_str!("sql/retention_forget_trigger_references.sql"),
            include_str!("sql/retention_forget_backfill_references.sql"),
            include_str!("sql/retention_delete_executions.sql"),
        ] {
            sqlx::query(statement).bind(&ids).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let executions = rows
            .into_iter()
            .map(|row| {
                Ok(PurgedExecution {
                    id: Uuid::parse_str(&row.id).map_err(|_| Error::InvalidData {
                        what: "execution id",
                        value: row.id.clone(),
                    })?,
                    namespace: row.namespace,
                    flow_id: row.flow_id,
                })
            })
            .collect::<Result<_>>()?;
        Ok(PurgeBatch {
            executions,
            logs,
            queue_messages,
        })
    }

    async fn count_purgeable_executions(&self, filter: &PurgeFilter) -> Result<u64> {
        let states = filter.terminal_states();
        if states.is_empty() {
            return Ok(0);
        }
        let count: i64 = sqlx::query_scalar(include_str!("sql/retention_executions_count.sql"))
            .bind(micros(filter.ended_before))
            .bind(Json(&states))
            .bind(filter.namespace.as_deref())
            .bind(filter.flow_id.as_deref())
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn purge_logs(&self, filter: &LogPurgeFilter, limit: u32) -> Result<u64> {
        let mut tx = self.begin_immediate().await?;
        let done = sqlx::query(include_str!("sql/retention_logs_delete.sql"))
            .bind(micros(filter.before))
            .bind(filter.namespace.as_deref())
            .bind(filter.flow_id.as_deref())
            .bind(i64::from(limit))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn count_purgeable_logs(&self, filter: &LogPurgeFilter) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(include_str!("sql/retention_logs_count.sql"))
            .bind(micros(filter.before))
            .bind(filter.namespace.as_deref())
            .bind(filter.flow_id.as_deref())
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}
