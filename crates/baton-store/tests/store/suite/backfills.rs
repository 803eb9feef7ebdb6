use std::collections::BTreeMap;
use std::sync::Arc;

use baton_store::{
    BackfillState, Error, Execution, ExecutionState, FireRecord, NewBackfill, NewMessage, Store,
    TriggerKey, TriggerSync,
};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::SyncFlow;

const FLOW: &str = "id: taxi\nnamespace: zoomcamp\ntasks: []\n";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn key() -> TriggerKey {
    TriggerKey::new("zoomcamp", "taxi", "green_schedule")
}

async fn with_trigger(store: &Arc<dyn Store>) {
    store
        .deploy_flow("zoomcamp", "taxi", FLOW, false)
        .await
        .unwrap();
    let row = TriggerSync {
        trigger_id: "green_schedule".into(),
        definition: json!({"cron": "0 9 1 * *"}),
        fingerprint: "0 9 1 * *".into(),
        next_fire_at: Some(at("2026-12-01T09:00:00Z")),
    };
    store
        .sync_flow("zoomcamp", "taxi", 1, &[row])
        .await
        .unwrap();
}

fn seven_months() -> NewBackfill {
    NewBackfill {
        key: key(),
        start: at("2021-01-01T00:00:00Z"),
        end: at("2021-07-31T23:59:59Z"),
        first_fire_at: Some(at("2021-01-01T09:00:00Z")),
        total: 7,
        inputs: json!({"taxi": "green"}).as_object().unwrap().clone(),
        labels: BTreeMap::from([("backfill".to_owned(), "true".to_owned())]),
    }
}

pub async fn backfills_are_created_once_per_trigger_and_change_state(store: Arc<dyn Store>) {
    assert!(matches!(
        store.create_backfill(&seven_months()).await,
        Err(Error::TriggerNotFound(_))
    ));
    with_trigger(&store).await;
    let backfill = store.create_backfill(&seven_months()).await.unwrap();
    assert_eq!(backfill.state, BackfillState::Running);
    assert_eq!(
        (backfill.total, backfill.created, backfill.ended),
        (7, 0, 0)
    );
    assert_eq!(backfill.next_fire_at, Some(at("2021-01-01T09:00:00Z")));
    assert_eq!(backfill.inputs["taxi"], "green");
    assert_eq!(backfill.labels["backfill"], "true");
    assert!(matches!(
        store.create_backfill(&seven_months()).await,
        Err(Error::BackfillActive(name)) if name == "zoomcamp.taxi.green_schedule"
    ));

    let paused = store
        .set_backfill_state(
            backfill.id,
            &[BackfillState::Running],
            BackfillState::Paused,
        )
        .await
        .unwrap();
    assert_eq!(paused.state, BackfillState::Paused);
    assert!(matches!(
        store
            .set_backfill_state(
                backfill.id,
                &[BackfillState::Running],
                BackfillState::Paused
            )
            .await,
        Err(Error::BackfillState {
            state: "PAUSED",
            ..
        })
    ));
    let active = store.list_backfills(Some(&key()), true).await.unwrap();
    assert_eq!(active.len(), 1);
    store
        .set_backfill_state(
            backfill.id,
            &[BackfillState::Running, BackfillState::Paused],
            BackfillState::Cancelled,
        )
        .await
        .unwrap();
    assert!(
        store
            .list_backfills(Some(&key()), true)
            .await
            .unwrap()
            .is_empty()
    );
    // A cancelled backfill makes room for the next one.
    let next = store.create_backfill(&seven_months()).await.unwrap();
    let all = store.list_backfills(None, false).await.unwrap();
    assert_eq!(
        all.iter().map(|b| b.id).collect::<Vec<_>>(),
        [next.id, backfill.id],
        "newest first"
    );
    assert!(matches!(
        store.get_backfill(uuid::Uuid::now_v7()).await,
        Err(Error::BackfillNotFound(_))
    ));
}

pub async fn a_backfill_fires_in_a_transaction_and_counts_its_ended_executions(
    store: Arc<dyn Store>,
) {
    with_trigger(&store).await;
    let backfill = store.create_backfill(&seven_months()).await.unwrap();
    let execution = Execution::new("zoomcamp", "taxi", 1, json!({}));
    let mut tx = store
        .lock_backfill(backfill.id, true)
        .await
        .unwrap()
        .unwrap();
    let fire = FireRecord {
        key: key(),
        fire_date: at("2021-01-01T09:00:00Z"),
        backfill_id: Some(backfill.id),
        execution_id: execution.id,
    };
    tx.record_fire(&fire).await.unwrap();
    tx.executions().insert_execution(&execution).await.unwrap();
    tx.executions()
        .enqueue(&[NewMessage::new("executions", json!({}))])
        .await
        .unwrap();
    let mut moved = tx.backfill().clone();
    moved.next_fire_at = Some(at("2021-02-01T09:00:00Z"));
    moved.created = 1;
    moved.execution_id = Some(execution.id);
    tx.update(&moved).await.unwrap();
    tx.commit().await.unwrap();

    let read = store.get_backfill(backfill.id).await.unwrap();
    assert_eq!((read.created, read.ended), (1, 0));
    assert_eq!(read.execution_state, Some(ExecutionState::Created));
    assert!(read.is_waiting());

    // The schedule itself may fire the same date: a backfill's fire has its own key.
    let mut tx = store.lock_trigger(&key(), true).await.unwrap().unwrap();
    tx.record_fire(&FireRecord {
        backfill_id: None,
        execution_id: uuid::Uuid::now_v7(),
        ..fire.clone()
    })
    .await
    .unwrap();
    drop(tx);
    let mut tx = store
        .lock_backfill(backfill.id, true)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        tx.record_fire(&fire).await,
        Err(Error::DuplicateFire { .. })
    ));
    drop(tx);

    let mut ended = execution.clone();
    ended.state = ExecutionState::Success;
    ended.ended_at = Some(Utc::now());
    store.update_execution(&ended, 1, &[], &[]).await.unwrap();
    let read = store.get_backfill(backfill.id).await.unwrap();
    assert_eq!((read.created, read.ended), (1, 1));
    assert!(!read.is_waiting());
}

pub async fn deleting_a_trigger_cancels_its_active_backfill(store: Arc<dyn Store>) {
    with_trigger(&store).await;
    let backfill = store.create_backfill(&seven_months()).await.unwrap();
    let edited = FLOW.replace("tasks: []", "tasks: [] # no trigger");
    store
        .deploy_flow("zoomcamp", "taxi", &edited, false)
        .await
        .unwrap();
    assert!(store.sync_flow("zoomcamp", "taxi", 2, &[]).await.unwrap());
    let read = store.get_backfill(backfill.id).await.unwrap();
    assert_eq!(read.state, BackfillState::Cancelled);
}
