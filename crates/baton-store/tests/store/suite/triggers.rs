use std::sync::Arc;
use std::time::Duration;

use baton_store::{
    Error, Execution, ExecutionState, FireRecord, FlowTriggers, NewMessage, SCHEDULER_WAKEUP,
    Store, TriggerFilter, TriggerKey, TriggerSync,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::SyncFlow;

const Q: &str = "executions";
const FLOW: &str = "id: nightly\nnamespace: company.team\ntasks: []\n";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn key(trigger: &str) -> TriggerKey {
    TriggerKey::new("company.team", "nightly", trigger)
}

fn sync(trigger: &str, fingerprint: &str, next: &str) -> TriggerSync {
    TriggerSync {
        trigger_id: trigger.to_owned(),
        definition: json!({"cron": fingerprint}),
        fingerprint: fingerprint.to_owned(),
        next_fire_at: Some(at(next)),
    }
}

/// A deployed flow with one trigger row `daily` due at 2021-01-01T09:00Z.
async fn with_trigger(store: &Arc<dyn Store>) {
    store
        .deploy_flow("company.team", "nightly", FLOW, false)
        .await
        .unwrap();
    let synced = store
        .sync_flow(
            "company.team",
            "nightly",
            1,
            &[sync("daily", "0 9 * * *", "2021-01-01T09:00:00Z")],
        )
        .await
        .unwrap();
    assert!(synced);
}

/// Fires `date` for `daily` in one transaction: fire key, execution, message, next date.
async fn fire(store: &Arc<dyn Store>, date: &str, next: &str) -> Result<Execution, Error> {
    let mut tx = store.lock_trigger(&key("daily"), true).await?.unwrap();
    let execution = Execution::new("company.team", "nightly", 1, json!({}));
    tx.record_fire(&FireRecord {
        key: key("daily"),
        fire_date: at(date),
        backfill_id: None,
        execution_id: execution.id,
    })
    .await?;
    let created = tx.executions().insert_execution(&execution).await?;
    tx.executions()
        .enqueue(&[
            NewMessage::new(Q, json!({"executionId": execution.id})).key(execution.id.to_string())
        ])
        .await?;
    let mut state = tx.state().clone();
    state.next_fire_at = Some(at(next));
    state.last_fire_at = Some(at(date));
    state.last_execution_id = Some(execution.id);
    state.awaiting_execution = true;
    tx.update(&state).await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn sync_creates_keeps_restarts_and_deletes_trigger_rows(store: Arc<dyn Store>) {
    store
        .deploy_flow("company.team", "nightly", FLOW, false)
        .await
        .unwrap();
    let pending = store.flows_to_sync(None, 100).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].id.as_str(), pending[0].revision),
        ("nightly", 1)
    );

    let first = [
        sync("daily", "0 9 * * *", "2021-01-01T09:00:00Z"),
        sync("hourly", "0 * * * *", "2021-01-01T01:00:00Z"),
    ];
    assert!(
        store
            .sync_flow("company.team", "nightly", 1, &first)
            .await
            .unwrap()
    );
    assert!(store.flows_to_sync(None, 100).await.unwrap().is_empty());
    assert!(
        !store
            .sync_flow("company.team", "nightly", 1, &first)
            .await
            .unwrap(),
        "a revision syncs once"
    );
    let rows = store
        .list_triggers(&TriggerFilter::default())
        .await
        .unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.key.trigger_id.as_str()).collect();
    assert_eq!(ids, ["daily", "hourly"]);
    assert_eq!(rows[0].definition, json!({"cron": "0 9 * * *"}));
    assert_eq!(rows[0].next_fire_at, Some(at("2021-01-01T09:00:00Z")));
    assert!(!rows[0].disabled && !rows[0].awaiting_execution);

    // Revision 2 keeps `daily` as it was, changes `hourly`'s cron and adds nothing else.
    let edited = FLOW.replace("tasks: []", "tasks: [] # edited");
    store
        .deploy_flow("company.team", "nightly", &edited, false)
        .await
        .unwrap();
    let second = [
        sync("daily", "0 9 * * *", "2021-06-01T09:00:00Z"),
        sync("hourly", "30 * * * *", "2021-06-01T00:30:00Z"),
    ];
    assert!(
        store
            .sync_flow("company.team", "nightly", 2, &second)
            .await
            .unwrap()
    );
    let daily = store.get_trigger(&key("daily")).await.unwrap();
    assert_eq!(
        daily.next_fire_at,
        Some(at("2021-01-01T09:00:00Z")),
        "unchanged schedule kept"
    );
    assert_eq!(daily.flow_revision, 2);
    let hourly = store.get_trigger(&key("hourly")).await.unwrap();
    assert_eq!(
        hourly.next_fire_at,
        Some(at("2021-06-01T00:30:00Z")),
        "changed schedule restarts"
    );
    assert!(
        !store
            .sync_flow("company.team", "nightly", 1, &first)
            .await
            .unwrap(),
        "an older revision changes nothing"
    );

    // A deleted flow has no triggers left.
    store.delete_flow("company.team", "nightly").await.unwrap();
    let tombstone = store.flows_to_sync(None, 100).await.unwrap();
    assert_eq!((tombstone[0].revision, tombstone[0].deleted), (3, true));
    assert!(
        store
            .sync_flow("company.team", "nightly", 3, &[])
            .await
            .unwrap()
    );
    assert!(
        store
            .list_triggers(&TriggerFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.get_trigger(&key("daily")).await,
        Err(Error::TriggerNotFound(name)) if name == "company.team.nightly.daily"
    ));
}

pub async fn list_triggers_filters_by_namespace_prefix_and_flow(store: Arc<dyn Store>) {
    for (namespace, flow) in [
        ("company.team", "a"),
        ("company.team.sub", "b"),
        ("company.teamwork", "c"),
    ] {
        let source = format!("id: {flow}\nnamespace: {namespace}\ntasks: []\n");
        store
            .deploy_flow(namespace, flow, &source, false)
            .await
            .unwrap();
        store
            .sync_flow(
                namespace,
                flow,
                1,
                &[sync("t", "@daily", "2021-01-01T00:00:00Z")],
            )
            .await
            .unwrap();
    }
    let flows = |rows: Vec<baton_store::TriggerState>| -> Vec<String> {
        rows.into_iter().map(|r| r.key.flow_id).collect()
    };
    let team = TriggerFilter {
        namespace_prefix: Some("company.team".into()),
        flow_id: None,
    };
    assert_eq!(flows(store.list_triggers(&team).await.unwrap()), ["a", "b"]);
    let only_b = TriggerFilter {
        namespace_prefix: None,
        flow_id: Some("b".into()),
    };
    assert_eq!(flows(store.list_triggers(&only_b).await.unwrap()), ["b"]);
}

pub async fn fire_commits_execution_message_key_and_state_together(store: Arc<dyn Store>) {
    with_trigger(&store).await;
    let execution = fire(&store, "2021-01-01T09:00:00Z", "2021-01-02T09:00:00Z")
        .await
        .unwrap();
    let state = store.get_trigger(&key("daily")).await.unwrap();
    assert_eq!(state.next_fire_at, Some(at("2021-01-02T09:00:00Z")));
    assert_eq!(state.last_fire_at, Some(at("2021-01-01T09:00:00Z")));
    assert_eq!(state.last_execution_id, Some(execution.id));
    assert_eq!(state.last_execution_state, Some(ExecutionState::Created));
    assert!(state.is_waiting(), "the next fire waits for the execution");
    assert_eq!(store.get_execution(execution.id).await.unwrap(), execution);
    let claimed = store
        .claim(Q, "c", 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    // The execution ends: the row reads it, and the ended query reports it.
    let mut ended = execution.clone();
    ended.state = ExecutionState::Success;
    ended.ended_at = Some(Utc::now());
    store.update_execution(&ended, 1, &[], &[]).await.unwrap();
    let state = store.get_trigger(&key("daily")).await.unwrap();
    assert_eq!(state.last_execution_state, Some(ExecutionState::Success));
    assert!(!state.is_waiting());
}

pub async fn a_date_fires_once_and_a_dropped_fire_leaves_nothing(store: Arc<dyn Store>) {
    with_trigger(&store).await;
    {
        let mut tx = store
            .lock_trigger(&key("daily"), true)
            .await
            .unwrap()
            .unwrap();
        let execution = Execution::new("company.team", "nightly", 1, json!({}));
        tx.executions().insert_execution(&execution).await.unwrap();
        tx.executions()
            .enqueue(&[NewMessage::new(Q, json!(1))])
            .await
            .unwrap();
        let mut state = tx.state().clone();
        state.next_fire_at = None;
        tx.update(&state).await.unwrap();
        // Dropped without commit, as when a scheduler dies mid-fire.
    }
    // The rollback runs when the dropped transaction's connection is next used: a lock that
    // waits (no SKIP LOCKED) returns once it has.
    let waited = store.lock_trigger(&key("daily"), false).await.unwrap();
    waited.unwrap().commit().await.unwrap();
    let state = store.get_trigger(&key("daily")).await.unwrap();
    assert_eq!(state.next_fire_at, Some(at("2021-01-01T09:00:00Z")));
    assert_eq!(store.queue_len(Q).await.unwrap(), 0);

    fire(&store, "2021-01-01T09:00:00Z", "2021-01-02T09:00:00Z")
        .await
        .unwrap();
    let again = fire(&store, "2021-01-01T09:00:00Z", "2021-01-03T09:00:00Z").await;
    assert!(
        matches!(&again, Err(Error::DuplicateFire { date, .. }) if *date == at("2021-01-01T09:00:00Z")),
        "{again:?}"
    );
    let state = store.get_trigger(&key("daily")).await.unwrap();
    assert_eq!(
        state.next_fire_at,
        Some(at("2021-01-02T09:00:00Z")),
        "the refused fire changed nothing"
    );
    assert_eq!(store.queue_len(Q).await.unwrap(), 1);
}

pub async fn ended_executions_reports_ended_and_missing_ones(store: Arc<dyn Store>) {
    let running = Execution::new("company.team", "nightly", 1, json!({}));
    let mut done = Execution::new("company.team", "nightly", 1, json!({}));
    done.state = ExecutionState::Failed;
    done.ended_at = Some(Utc::now());
    let message = NewMessage::new(Q, json!({}));
    store.create_execution(&running, &message).await.unwrap();
    store.create_execution(&done, &message).await.unwrap();
    let missing = uuid::Uuid::now_v7();
    let mut ended = store
        .ended_executions(&[running.id, done.id, missing])
        .await
        .unwrap();
    ended.sort();
    let mut expected = vec![done.id, missing];
    expected.sort();
    assert_eq!(ended, expected);
    assert!(store.ended_executions(&[]).await.unwrap().is_empty());
}

pub async fn deploys_and_notifications_wake_schedulers(store: Arc<dyn Store>) {
    let wakeup = store.subscribe(SCHEDULER_WAKEUP).await.unwrap();
    // Drain a wake-up the subscription itself may have produced.
    wakeup.wait(Duration::from_millis(200)).await;
    store
        .deploy_flow("company.team", "nightly", FLOW, false)
        .await
        .unwrap();
    assert!(
        wakeup.wait(Duration::from_secs(5)).await,
        "no wake-up on deploy"
    );
    store.notify_schedulers().await.unwrap();
    assert!(
        wakeup.wait(Duration::from_secs(5)).await,
        "no wake-up on notify"
    );
    store.delete_flow("company.team", "nightly").await.unwrap();
    assert!(
        wakeup.wait(Duration::from_secs(5)).await,
        "no wake-up on delete"
    );
}

pub async fn updates_through_a_waiting_lock_apply_in_turn(store: Arc<dyn Store>) {
    with_trigger(&store).await;
    let mut tx = store
        .lock_trigger(&key("daily"), false)
        .await
        .unwrap()
        .unwrap();
    let mut state = tx.state().clone();
    state.disabled = true;
    state.next_fire_at = Some(at("2021-02-01T09:00:00Z") + TimeDelta::seconds(1));
    tx.update(&state).await.unwrap();
    tx.commit().await.unwrap();
    let read = store.get_trigger(&key("daily")).await.unwrap();
    assert!(read.disabled);
    assert_eq!(read.next_fire_at, state.next_fire_at);
    assert!(matches!(
        store.lock_trigger(&key("missing"), false).await,
        Err(Error::TriggerNotFound(_))
    ));
}

pub async fn sync_takes_many_flows_at_once_and_skips_those_already_synced(store: Arc<dyn Store>) {
    let mut batch = Vec::new();
    for n in 0..50 {
        let id = format!("flow{n}");
        let source = format!("id: {id}\nnamespace: bulk\ntasks: []\n");
        store
            .deploy_flow("bulk", &id, &source, false)
            .await
            .unwrap();
        batch.push(FlowTriggers {
            namespace: "bulk".into(),
            flow_id: id,
            revision: 1,
            triggers: vec![
                sync("a", "@daily", "2021-01-01T00:00:00Z"),
                sync("b", "@hourly", "2021-01-01T01:00:00Z"),
            ],
        });
    }
    assert_eq!(store.sync_triggers(&batch[..10]).await.unwrap(), 10);
    assert_eq!(store.flows_to_sync(None, 1000).await.unwrap().len(), 40);
    // Pages go on after a given flow, in (namespace, id) order: flow10..flow49 sort as text.
    let page = store.flows_to_sync(None, 5).await.unwrap();
    let ids: Vec<&str> = page.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["flow10", "flow11", "flow12", "flow13", "flow14"]);
    let next = store
        .flows_to_sync(Some(("bulk", "flow14")), 1000)
        .await
        .unwrap();
    assert_eq!(next.len(), 35);
    assert_eq!(next[0].id, "flow15");
    assert_eq!(
        store.sync_triggers(&batch).await.unwrap(),
        40,
        "the first ten were synced"
    );
    assert!(store.flows_to_sync(None, 1000).await.unwrap().is_empty());
    let rows = store
        .list_triggers(&TriggerFilter::default())
        .await
        .unwrap();
    assert_eq!(rows.len(), 100);
    // A revision that drops trigger `b` of one flow deletes that row only.
    let mut edited = batch[3].clone();
    edited.revision = 2;
    edited.triggers.truncate(1);
    assert_eq!(store.sync_triggers(&[edited]).await.unwrap(), 1);
    let rows = store
        .list_triggers(&TriggerFilter::default())
        .await
        .unwrap();
    assert_eq!(rows.len(), 99);
    assert!(
        !rows
            .iter()
            .any(|r| r.key.flow_id == "flow3" && r.key.trigger_id == "b")
    );
}
