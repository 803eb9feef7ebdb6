//! Retention on Postgres: see the `retention` module for the design.

use async_trait::async_trait;
use sqlx::FromRow;
use uuid::Uuid;

use super::PgStore;
use crate::{LogPurgeFilter, PurgeBatch, PurgeFilter, PurgedExecution, Result, RetentionStore};

#[derive(FromRow)]
struct PurgedRow {
    id: Uuid,
    namespace: String,
    flow_id: String,
}

#[async_trait]
impl RetentionStore for PgStore {
    async fn purge_executions(&self, filter: &PurgeFilter, limit: u32) -> Result<PurgeBatch> {
        let states = filter.terminal_states();
        if states.is_empty() || limit == 0 {
            return Ok(PurgeBatch::default());
        }
        let mut tx = self.pool.begin().await?;
        let rows: Vec<PurgedRow> =
            sqlx::query_as(include_str!("sql/retention_executions_lock.sql"))
                .bind(filter.ended_before)
                .bind(&states)
                .bind(filter.namespace.as_deref())
                .bind(filter.flow_id.as_deref())
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
        if rows.is_empty() {
            return Ok(PurgeBatch::default());
        }
        let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
        let texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let logs = sqlx::query(include_str!("sql/retention_delete_execution_logs.sql"))
            .bind(&ids)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let queue_messages =
            sqlx::query(include_str!("sql/retention_delete_execution_messages.sql"))
                .bind(&texts)
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
        Ok(PurgeBatch {
            executions: rows
                .into_iter()
                .map(|row| PurgedExecution {
                    id: row.id,
                    namespace: row.namespace,
                    flow_id: row.flow_id,
                })
                .collect(),
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
            .bind(filter.ended_before)
            .bind(&states)
            .bind(filter.namespace.as_deref())
            .bind(filter.flow_id.as_deref())
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn purge_logs(&self, filter: &LogPurgeFilter, limit: u32) -> Result<u64> {
        let done = sqlx::query(include_str!("sql/retention_logs_delete.sql"))
            .bind(filter.before)
            .bind(filter.namespace.as_deref())
            .bind(filter.flow_id.as_deref())
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn count_purgeable_logs(&self, filter: &LogPurgeFilter) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(include_str!("sql/retention_logs_count.sql"))
            .bind(filter.before)
            .bind(filter.namespace.as_deref())
            .bind(filter.flow_id.as_deref())
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}
