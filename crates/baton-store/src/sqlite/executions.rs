//! Executions and the executor's write transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use super::{SqliteStore, concurrency, from_micros, micros, now_micros, queue};
use crate::wakeup::Wakeups;
use crate::{
    Error, Execution, ExecutionCursor, ExecutionFilter, ExecutionPage, ExecutionStore, ExecutionTx,
    FlowRecord, NewMessage, Result, SlotDecision, SlotRequest, TriggerKey,
};

#[derive(FromRow)]
struct ExecutionRow {
    id: String,
    namespace: String,
    flow_id: String,
    flow_revision: i32,
    state: String,
    labels: Json<BTreeMap<String, String>>,
    created_at: i64,
    updated_at: i64,
    ended_at: Option<i64>,
    version: i64,
    document: Json<Value>,
}

impl TryFrom<ExecutionRow> for Execution {
    type Error = Error;

    fn try_from(row: ExecutionRow) -> Result<Self> {
        Ok(Self {
            id: Uuid::parse_str(&row.id).map_err(|_| Error::InvalidData {
                what: "execution id",
                value: row.id.clone(),
            })?,
            namespace: row.namespace,
            flow_id: row.flow_id,
            flow_revision: row.flow_revision,
            state: crate::model::parse_state(&row.state)?,
            labels: row.labels.0,
            created_at: from_micros(row.created_at)?,
            updated_at: from_micros(row.updated_at)?,
            ended_at: row.ended_at.map(from_micros).transpose()?,
            version: row.version,
            document: row.document.0,
        })
    }
}

/// The executor's transaction on SQLite: `BEGIN IMMEDIATE` holds the database's write lock, so
/// locking one execution is a no-op beyond reading it.
pub(super) struct SqliteTx {
    pub(super) tx: Transaction<'static, Sqlite>,
    pub(super) wakeups: Arc<Wakeups>,
    /// Queues to wake once the transaction commits.
    pub(super) enqueued: BTreeSet<String>,
}

#[async_trait]
impl ExecutionTx for SqliteTx {
    async fn lock_execution(&mut self, id: Uuid) -> Result<Execution> {
        get(&mut self.tx, id).await
    }

    async fn lock_execution_unless(&mut self, id: Uuid, known_version: i64) -> Result<Execution> {
        let row: Option<ExecutionRow> =
            sqlx::query_as(include_str!("sql/execution_get_unless.sql"))
                .bind(id.to_string())
                .bind(known_version)
                .fetch_optional(&mut *self.tx)
                .await?;
        row.ok_or(Error::ExecutionNotFound(id))?.try_into()
    }

    async fn get_flow(
        &mut self,
        namespace: &str,
        id: &str,
        revision: Option<i32>,
    ) -> Result<FlowRecord> {
        super::flows::fetch_flow(&mut *self.tx, namespace, id, revision).await
    }

    async fn insert_execution(&mut self, execution: &Execution) -> Result<Execution> {
        let row: ExecutionRow = sqlx::query_as(include_str!("sql/execution_insert.sql"))
            .bind(execution.id.to_string())
            .bind(&execution.namespace)
            .bind(&execution.flow_id)
            .bind(execution.flow_revision)
            .bind(execution.state.as_str())
            .bind(Json(&execution.labels))
            .bind(micros(execution.created_at))
            .bind(now_micros())
            .bind(execution.ended_at.map(micros))
            .bind(Json(&execution.document))
            .fetch_one(&mut *self.tx)
            .await?;
        row.try_into()
    }

    async fn update_execution(
        &mut self,
        execution: &Execution,
        expected_version: i64,
    ) -> Result<Execution> {
        let conn: &mut SqliteConnection = &mut self.tx;
        let row: Option<ExecutionRow> = sqlx::query_as(include_str!("sql/execution_update.sql"))
            .bind(execution.id.to_string())
            .bind(expected_version)
            .bind(execution.state.as_str())
            .bind(Json(&execution.labels))
            .bind(execution.ended_at.map(micros))
            .bind(Json(&execution.document))
            .bind(execution.flow_revision)
            .bind(now_micros())
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            return row.try_into();
        }
        let exists: bool = sqlx::query_scalar(include_str!("sql/execution_exists.sql"))
            .bind(execution.id.to_string())
            .fetch_one(&mut *conn)
            .await?;
        Err(if exists {
            Error::Conflict {
                id: execution.id,
                expected: expected_version,
            }
        } else {
            Error::ExecutionNotFound(execution.id)
        })
    }

    async fn enqueue(&mut self, messages: &[NewMessage]) -> Result<Vec<i64>> {
        self.enqueued.extend(
            messages
                .iter()
                .filter(|m| m.wakes())
                .map(|m| m.queue.clone()),
        );
        queue::enqueue(&mut self.tx, messages).await
    }

    async fn ack(&mut self, ids: &[i64]) -> Result<u64> {
        queue::ack(&mut *self.tx, ids).await
    }

    async fn acquire_slot(&mut self, request: &SlotRequest<'_>) -> Result<SlotDecision> {
        concurrency::acquire(&mut self.tx, request).await
    }

    async fn release_slot(
        &mut self,
        namespace: &str,
        flow_id: &str,
        execution_id: Uuid,
    ) -> Result<Vec<Uuid>> {
        concurrency::release(&mut self.tx, namespace, flow_id, execution_id).await
    }

    async fn flows_generation(&mut self) -> Result<i64> {
        concurrency::flows_generation(&mut self.tx).await
    }

    async fn lock_trigger_window(&mut self, trigger: &TriggerKey) -> Result<Option<Value>> {
        concurrency::lock_trigger_window(&mut self.tx, trigger).await
    }

    async fn save_trigger_window(
        &mut self,
        trigger: &TriggerKey,
        state: Option<&Value>,
    ) -> Result<()> {
        concurrency::save_trigger_window(&mut self.tx, trigger, state).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await?;
        for queue in &self.enqueued {
            self.wakeups.wake(queue);
        }
        Ok(())
    }
}

async fn get(conn: &mut SqliteConnection, id: Uuid) -> Result<Execution> {
    let row: Option<ExecutionRow> = sqlx::query_as(include_str!("sql/execution_get.sql"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.ok_or(Error::ExecutionNotFound(id))?.try_into()
}

#[async_trait]
impl ExecutionStore for SqliteStore {
    async fn begin(&self) -> Result<Box<dyn ExecutionTx>> {
        Ok(Box::new(SqliteTx {
            tx: self.begin_immediate().await?,
            wakeups: self.wakeups.clone(),
            enqueued: BTreeSet::new(),
        }))
    }

    async fn get_execution(&self, id: Uuid) -> Result<Execution> {
        get(&mut *self.pool.acquire().await?, id).await
    }

    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        after: Option<ExecutionCursor>,
        limit: u32,
    ) -> Result<ExecutionPage> {
        let states: Vec<&str> = filter.states.iter().map(|state| state.as_str()).collect();
        let sql = match after {
            Some(_) => include_str!("sql/execution_list_after.sql"),
            None => include_str!("sql/execution_list.sql"),
        };
        let rows: Vec<ExecutionRow> = sqlx::query_as(sql)
            .bind(&filter.namespace)
            .bind(&filter.flow_id)
            .bind(Json(states))
            .bind(filter.created_from.map(micros))
            .bind(filter.created_to.map(micros))
            .bind(Json(&filter.labels))
            .bind(after.map(|cursor| micros(cursor.created_at)))
            .bind(after.map(|cursor| cursor.id.to_string()))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .into_iter()
            .map(Execution::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(ExecutionPage::new(items, limit))
    }
}
