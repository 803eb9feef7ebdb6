//! Executions and the executor's write transaction.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::{PgStore, concurrency, queue};
use crate::{
    Error, Execution, ExecutionCursor, ExecutionFilter, ExecutionPage, ExecutionStore, ExecutionTx,
    FlowRecord, NewMessage, Result, SlotDecision, SlotRequest, TriggerKey,
};

#[derive(FromRow)]
struct ExecutionRow {
    id: Uuid,
    namespace: String,
    flow_id: String,
    flow_revision: i32,
    state: String,
    labels: Json<BTreeMap<String, String>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    version: i64,
    document: Json<Value>,
}

impl TryFrom<ExecutionRow> for Execution {
    type Error = Error;

    fn try_from(row: ExecutionRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            namespace: row.namespace,
            flow_id: row.flow_id,
            flow_revision: row.flow_revision,
            state: crate::model::parse_state(&row.state)?,
            labels: row.labels.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
            ended_at: row.ended_at,
            version: row.version,
            document: row.document.0,
        })
    }
}

/// The executor's transaction on Postgres (also the one trigger and backfill transactions
/// insert their executions through).
pub(super) struct PgTx {
    pub(super) tx: Transaction<'static, Postgres>,
    /// For the wake-ups sent once the transaction committed.
    pub(super) pool: sqlx::PgPool,
    /// Queues whose consumers must hear of this transaction's messages.
    pub(super) wake: std::collections::BTreeSet<String>,
}

#[async_trait]
impl ExecutionTx for PgTx {
    async fn lock_execution(&mut self, id: Uuid) -> Result<Execution> {
        let row: Option<ExecutionRow> = sqlx::query_as(include_str!("sql/execution_lock.sql"))
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.ok_or(Error::ExecutionNotFound(id))?.try_into()
    }

    async fn lock_execution_unless(&mut self, id: Uuid, known_version: i64) -> Result<Execution> {
        let row: Option<ExecutionRow> =
            sqlx::query_as(include_str!("sql/execution_lock_unless.sql"))
                .bind(id)
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
            .bind(execution.id)
            .bind(&execution.namespace)
            .bind(&execution.flow_id)
            .bind(execution.flow_revision)
            .bind(execution.state.as_str())
            .bind(Json(&execution.labels))
            .bind(execution.created_at)
            .bind(execution.ended_at)
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
        update(&mut self.tx, execution, expected_version).await
    }

    async fn enqueue(&mut self, messages: &[NewMessage]) -> Result<Vec<i64>> {
        self.wake.extend(queue::to_wake(messages));
        queue::enqueue(&mut self.tx, messages).await
    }

    async fn ack(&mut self, ids: &[i64]) -> Result<u64> {
        queue::ack(&mut *self.tx, ids).await
    }

    async fn write_step(
        &mut self,
        execution: &Execution,
        expected_version: i64,
        messages: &[NewMessage],
        acks: &[i64],
    ) -> Result<Vec<i64>> {
        let columns = queue::MessageColumns::of(messages);
        let (version, ids): (Option<i64>, Vec<i64>) =
            sqlx::query_as(include_str!("sql/execution_write_step.sql"))
                .bind(execution.id)
                .bind(expected_version)
                .bind(execution.state.as_str())
                .bind(Json(&execution.labels))
                .bind(execution.ended_at)
                .bind(Json(&execution.document))
                .bind(execution.flow_revision)
                .bind(columns.queues)
                .bind(columns.keys)
                .bind(columns.payloads)
                .bind(columns.priorities)
                .bind(columns.run_ats)
                .bind(columns.consumers)
                .bind(columns.leases_ms)
                .bind(acks)
                .fetch_one(&mut *self.tx)
                .await?;
        if version.is_none() {
            return Err(missed_update(&mut self.tx, execution, expected_version).await);
        }
        self.wake.extend(queue::to_wake(messages));
        Ok(ids)
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
        let PgTx { tx, pool, wake } = *self;
        tx.commit().await?;
        queue::notify_committed(&pool, wake).await;
        Ok(())
    }
}

async fn update(
    conn: &mut PgConnection,
    execution: &Execution,
    expected_version: i64,
) -> Result<Execution> {
    let row: Option<ExecutionRow> = sqlx::query_as(include_str!("sql/execution_update.sql"))
        .bind(execution.id)
        .bind(expected_version)
        .bind(execution.state.as_str())
        .bind(Json(&execution.labels))
        .bind(execution.ended_at)
        .bind(Json(&execution.document))
        .bind(execution.flow_revision)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => row.try_into(),
        None => Err(missed_update(conn, execution, expected_version).await),
    }
}

/// Why an update matched no row: the version moved on, or the execution is gone.
async fn missed_update(
    conn: &mut PgConnection,
    execution: &Execution,
    expected_version: i64,
) -> Error {
    let exists = sqlx::query_scalar::<_, bool>(include_str!("sql/execution_exists.sql"))
        .bind(execution.id)
        .fetch_one(&mut *conn)
        .await;
    match exists {
        Ok(true) => Error::Conflict {
            id: execution.id,
            expected: expected_version,
        },
        Ok(false) => Error::ExecutionNotFound(execution.id),
        Err(error) => error.into(),
    }
}

#[async_trait]
impl ExecutionStore for PgStore {
    async fn begin(&self) -> Result<Box<dyn ExecutionTx>> {
        Ok(Box::new(PgTx {
            tx: self.pool.begin().await?,
            pool: self.pool.clone(),
            wake: Default::default(),
        }))
    }

    async fn get_execution(&self, id: Uuid) -> Result<Execution> {
        let row: Option<ExecutionRow> = sqlx::query_as(include_str!("sql/execution_get.sql"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.ok_or(Error::ExecutionNotFound(id))?.try_into()
    }

    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        after: Option<ExecutionCursor>,
        limit: u32,
    ) -> Result<ExecutionPage> {
        let states: Vec<&str> = filter.states.iter().map(|state| state.as_str()).collect();
        let mut tx = self.pool.begin().await?;
        // A generic plan would keep every `$n IS NULL OR …` branch and miss the indexes.
        sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
            .execute(&mut *tx)
            .await?;
        let rows: Vec<ExecutionRow> = sqlx::query_as(include_str!("sql/execution_list.sql"))
            .bind(&filter.namespace)
            .bind(&filter.flow_id)
            .bind(states)
            .bind(filter.created_from)
            .bind(filter.created_to)
            .bind(Json(&filter.labels))
            .bind(after.map(|cursor| cursor.created_at))
            .bind(after.map(|cursor| cursor.id))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let items = rows
            .into_iter()
            .map(Execution::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(ExecutionPage::new(items, limit))
    }
}
