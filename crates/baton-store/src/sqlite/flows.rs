//! Flows and their revisions.

use async_trait::async_trait;
use sqlx::FromRow;

use super::{SqliteStore, from_micros, now_micros};
use crate::{Error, FlowFilter, FlowRecord, FlowStore, Result, SCHEDULER_WAKEUP};

#[derive(FromRow)]
pub(super) struct FlowRow {
    namespace: String,
    id: String,
    revision: i32,
    source: String,
    disabled: bool,
    deleted: bool,
    created_at: i64,
}

impl TryFrom<FlowRow> for FlowRecord {
    type Error = Error;

    fn try_from(row: FlowRow) -> Result<Self> {
        let FlowRow {
            namespace,
            id,
            revision,
            source,
            disabled,
            deleted,
            created_at,
        } = row;
        let created_at = from_micros(created_at)?;
        Ok(Self {
            namespace,
            id,
            revision,
            source,
            disabled,
            deleted,
            created_at,
        })
    }
}

fn not_found(namespace: &str, id: &str) -> Error {
    Error::FlowNotFound {
        namespace: namespace.to_owned(),
        id: id.to_owned(),
    }
}

/// One revision, or the latest live one, through any connection (the pool or a transaction).
pub(super) async fn fetch_flow<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Sqlite>,
    namespace: &str,
    id: &str,
    revision: Option<i32>,
) -> Result<FlowRecord> {
    let row: Option<FlowRow> = match revision {
        Some(revision) => {
            sqlx::query_as(include_str!("sql/flow_get.sql"))
                .bind(namespace)
                .bind(id)
                .bind(revision)
                .fetch_optional(executor)
                .await?
        }
        None => sqlx::query_as(include_str!("sql/flow_latest.sql"))
            .bind(namespace)
            .bind(id)
            .fetch_optional(executor)
            .await?
            .filter(|row: &FlowRow| !row.deleted),
    };
    row.ok_or_else(|| not_found(namespace, id))?.try_into()
}

#[async_trait]
impl FlowStore for SqliteStore {
    async fn deploy_flow(
        &self,
        namespace: &str,
        id: &str,
        source: &str,
        disabled: bool,
    ) -> Result<FlowRecord> {
        let mut tx = self.begin_immediate().await?;
        let latest: Option<FlowRow> = sqlx::query_as(include_str!("sql/flow_latest.sql"))
            .bind(namespace)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let row: FlowRow = match latest {
            Some(latest) if !latest.deleted && latest.source == source => {
                if latest.disabled == disabled {
                    return latest.try_into();
                }
                sqlx::query_as(include_str!("sql/flow_set_disabled.sql"))
                    .bind(namespace)
                    .bind(id)
                    .bind(latest.revision)
                    .bind(disabled)
                    .fetch_one(&mut *tx)
                    .await?
            }
            latest => {
                let revision = latest.map_or(1, |latest| latest.revision + 1);
                sqlx::query_as(include_str!("sql/flow_insert.sql"))
                    .bind(namespace)
                    .bind(id)
                    .bind(revision)
                    .bind(source)
                    .bind(disabled)
                    .bind(false)
                    .bind(now_micros())
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        // Schedulers keep trigger rows in step with flows.
        self.wakeups.wake(SCHEDULER_WAKEUP);
        row.try_into()
    }

    async fn get_flow(
        &self,
        namespace: &str,
        id: &str,
        revision: Option<i32>,
    ) -> Result<FlowRecord> {
        fetch_flow(&self.pool, namespace, id, revision).await
    }

    async fn list_flows(&self, filter: &FlowFilter) -> Result<Vec<FlowRecord>> {
        let (after_ns, after_id) = filter.after.clone().unzip();
        let rows: Vec<FlowRow> = sqlx::query_as(include_str!("sql/flow_list.sql"))
            .bind(&filter.namespace_prefix)
            .bind(after_ns)
            .bind(after_id)
            .bind(i64::from(filter.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(FlowRecord::try_from).collect()
    }

    async fn list_revisions(&self, namespace: &str, id: &str) -> Result<Vec<FlowRecord>> {
        let rows: Vec<FlowRow> = sqlx::query_as(include_str!("sql/flow_revisions.sql"))
            .bind(namespace)
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(FlowRecord::try_from).collect()
    }

    async fn delete_flow(&self, namespace: &str, id: &str) -> Result<FlowRecord> {
        let mut tx = self.begin_immediate().await?;
        let latest: FlowRow = sqlx::query_as(include_str!("sql/flow_latest.sql"))
            .bind(namespace)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .filter(|row: &FlowRow| !row.deleted)
            .ok_or_else(|| not_found(namespace, id))?;
        let tombstone: FlowRow = sqlx::query_as(include_str!("sql/flow_insert.sql"))
            .bind(namespace)
            .bind(id)
            .bind(latest.revision + 1)
            .bind(&latest.source)
            .bind(latest.disabled)
            .bind(true)
            .bind(now_micros())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        self.wakeups.wake(SCHEDULER_WAKEUP);
        tombstone.try_into()
    }

    async fn flows_generation(&self) -> Result<i64> {
        super::concurrency::flows_generation(&mut *self.pool.acquire().await?).await
    }
}
