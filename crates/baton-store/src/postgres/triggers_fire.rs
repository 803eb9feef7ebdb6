//! Many Schedule trigger dates fired in one statement: one round trip and one commit for all
//! the dates that fall due at one instant, where a [`crate::TriggerTx`] per date costs seven
//! round trips and a commit each.
//!
//! The statement may run ahead of the dates, in a transaction that commits at them
//! ([`crate::TriggerStore::fire_schedules_at`]): until the commit nothing is visible, the
//! trigger rows stay locked (another scheduler skips them, then finds them moved on) and a
//! scheduler that dies leaves a rolled-back transaction, as if it had died before firing.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use super::triggers::TriggerRow;
use super::{PgStore, queue};
use crate::{ExecutionState, Result, ScheduledFire, TriggerState, millis};

/// The fires go through a connection of their own, planned once: on pooled connections each
/// of the pool's ten would plan this many-CTE statement five times over (Postgres' custom plans
/// before it settles on a generic one), 2–4 ms each time, on the path from a fire date to its
/// commit. The connection is opened and the statement planned before the first date (see
/// [`prepare`]); a connection that failed is dropped and opened again for the next fires.
pub(super) type FireConnection = tokio::sync::Mutex<Option<PgConnection>>;

/// Fires `fires` in a transaction committed once `date` resolves.
pub(super) async fn fire_schedules_at(
    store: &PgStore,
    fires: &[ScheduledFire],
    date: crate::Date<'_>,
) -> Result<Vec<TriggerState>> {
    if fires.is_empty() {
        date.await;
        return Ok(Vec::new());
    }
    let mut connection = store.shared.fire_connection.lock().await;
    let rows: Result<Vec<TriggerRow>> = async {
        let mut tx = open(store, &mut connection).await?.begin().await?;
        let rows = run(&mut tx, fires).await?;
        date.await;
        tx.commit().await?;
        Ok(rows)
    }
    .await;
    if rows.is_err() {
        // Dropped, with whatever transaction it had open: the server rolls that back.
        *connection = None;
    }
    drop(connection);
    let fired = rows?
        .into_iter()
        .map(TriggerState::try_from)
        .collect::<Result<Vec<_>>>()?;
    // The executors hear of the new messages once committed, as after a step. The wake-up
    // travels on its own: the fires are committed whether or not it arrives (a lost one delays
    // the messages to the consumers' next poll), so the scheduler does not wait for it.
    let fired_ids: std::collections::HashSet<Option<Uuid>> =
        fired.iter().map(|row| row.last_execution_id).collect();
    let woken: Vec<crate::NewMessage> = fires
        .iter()
        .filter(|fire| fired_ids.contains(&Some(fire.execution.id)))
        .flat_map(|fire| fire.messages.iter().cloned())
        .collect();
    let wake = queue::to_wake(&woken);
    if !wake.is_empty() {
        let pool = store.pool.clone();
        tokio::spawn(async move { queue::notify_committed(&pool, wake).await });
    }
    Ok(fired)
}

/// Opens the fire connection and plans the statement, if not done yet: an execution with no
/// fires, which writes nothing.
pub(super) async fn prepare(store: &PgStore) -> Result<()> {
    let mut connection = store.shared.fire_connection.lock().await;
    if connection.is_some() {
        return Ok(());
    }
    let result = match open(store, &mut connection).await {
        Ok(open) => run(open, &[]).await.map(|_| ()),
        Err(error) => Err(error),
    };
    if result.is_err() {
        *connection = None;
    }
    result
}

async fn open<'c>(
    store: &PgStore,
    connection: &'c mut Option<PgConnection>,
) -> Result<&'c mut PgConnection> {
    if connection.is_none() {
        let mut opened = PgConnection::connect_with(&store.connect).await?;
        // The plan must not hang on the first fires' values: the arrays' lengths vary.
        sqlx::query("SET plan_cache_mode = force_generic_plan")
            .execute(&mut opened)
            .await?;
        *connection = Some(opened);
    }
    Ok(connection.as_mut().expect("opened above"))
}

async fn run(connection: &mut PgConnection, fires: &[ScheduledFire]) -> Result<Vec<TriggerRow>> {
    let text = |f: fn(&ScheduledFire) -> &str| fires.iter().map(f).collect::<Vec<&str>>();
    let ended: Vec<&str> = ExecutionState::ALL
        .into_iter()
        .filter(|state| state.is_terminal())
        .map(ExecutionState::as_str)
        .collect();
    let messages: Vec<(Uuid, &crate::NewMessage)> = fires
        .iter()
        .flat_map(|fire| fire.messages.iter().map(|m| (fire.execution.id, m)))
        .collect();
    let rows: Vec<TriggerRow> = sqlx::query_as(include_str!("sql/trigger_fire_schedules.sql"))
        .bind(text(|f| f.armed.key.namespace.as_str()))
        .bind(text(|f| f.armed.key.flow_id.as_str()))
        .bind(text(|f| f.armed.key.trigger_id.as_str()))
        .bind(
            fires
                .iter()
                .map(|f| f.armed.next_fire_at)
                .collect::<Vec<_>>(),
        )
        .bind(
            fires
                .iter()
                .map(|f| f.armed.flow_revision)
                .collect::<Vec<_>>(),
        )
        .bind(
            fires
                .iter()
                .map(|f| Json(&f.armed.definition))
                .collect::<Vec<_>>(),
        )
        .bind(fires.iter().map(|f| f.fire_date).collect::<Vec<_>>())
        .bind(fires.iter().map(|f| f.next_fire_at).collect::<Vec<_>>())
        .bind(fires.iter().map(|f| f.execution.id).collect::<Vec<_>>())
        .bind(
            fires
                .iter()
                .map(|f| f.execution.flow_revision)
                .collect::<Vec<_>>(),
        )
        .bind(text(|f| f.execution.state.as_str()))
        .bind(
            fires
                .iter()
                .map(|f| Json(&f.execution.labels))
                .collect::<Vec<_>>(),
        )
        .bind(
            fires
                .iter()
                .map(|f| f.execution.created_at)
                .collect::<Vec<_>>(),
        )
        .bind(
            fires
                .iter()
                .map(|f| f.execution.ended_at)
                .collect::<Vec<_>>(),
        )
        .bind(&ended)
        .bind(
            fires
                .iter()
                .map(|f| Json(&f.execution.document))
                .collect::<Vec<_>>(),
        )
        .bind(messages.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(
            messages
                .iter()
                .map(|(_, m)| m.queue.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|(_, m)| m.key.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|(_, m)| Json(&m.payload))
                .collect::<Vec<Json<&Value>>>(),
        )
        .bind(messages.iter().map(|(_, m)| m.priority).collect::<Vec<_>>())
        .bind(
            messages
                .iter()
                .map(|(_, m)| m.run_at)
                .collect::<Vec<Option<DateTime<Utc>>>>(),
        )
        .bind(
            messages
                .iter()
                .map(|(_, m)| m.claimed_by.as_ref().map(|(consumer, _)| consumer.as_str()))
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|(_, m)| {
                    m.claimed_by
                        .as_ref()
                        .map(|(_, lease)| millis(*lease) as f64)
                })
                .collect::<Vec<_>>(),
        )
        .fetch_all(connection)
        .await?;
    Ok(rows)
}
