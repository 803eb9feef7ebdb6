//! `fire_schedules`: many due dates fired in one call, each exactly as a trigger transaction
//! would, and nothing written for the dates that must not fire.

use std::sync::Arc;

use baton_store::{
    Error, Execution, ExecutionState, FireRecord, NewMessage, ScheduledFire, Store, TriggerKey,
    TriggerSync,
};
use chrono::{DateTime, Utc};
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

fn sync(trigger: &str, next: &str) -> TriggerSync {
    TriggerSync {
        trigger_id: trigger.to_owned(),
        definition: json!({"cron": trigger}),
        fingerprint: trigger.to_owned(),
        next_fire_at: Some(at(next)),
    }
}

/// The date `date` of `trigger` as armed from its current row, moving on to `next`.
async fn due(store: &Arc<dyn Store>, trigger: &str, date: &str, next: &str) -> ScheduledFire {
    let execution = Execution::new("company.team", "nightly", 1, json!({"trigger": trigger}));
    ScheduledFire {
        armed: store.get_trigger(&key(trigger)).await.unwrap(),
        fire_date: at(date),
        next_fire_at: Some(at(next)),
        messages: vec![NewMessage::new(Q, json!({"executionId": execution.id}))],
        execution,
    }
}

fn keys(rows: &[baton_store::TriggerState]) -> Vec<&str> {
    let mut keys: Vec<&str> = rows.iter().map(|r| r.key.trigger_id.as_str()).collect();
    keys.sort_unstable();
    keys
}

pub async fn due_dates_fire_together_once_and_only_as_armed(store: Arc<dyn Store>) {
    store
        .deploy_flow("company.team", "nightly", FLOW, false)
        .await
        .unwrap();
    let triggers = [
        sync("a", "2021-01-01T09:00:00Z"),
        sync("b", "2021-01-01T09:00:00Z"),
        sync("stale", "2021-01-01T09:00:00Z"),
    ];
    assert!(
        store
            .sync_flow("company.team", "nightly", 1, &triggers)
            .await
            .unwrap()
    );
    let a = due(&store, "a", "2021-01-01T09:00:00Z", "2021-01-02T09:00:00Z").await;
    let b = due(&store, "b", "2021-01-01T09:00:00Z", "2021-01-02T09:00:00Z").await;
    let mut stale = due(
        &store,
        "stale",
        "2021-01-01T09:00:00Z",
        "2021-01-02T09:00:00Z",
    )
    .await;
    // Armed from a row that has moved since: it must not fire.
    stale.armed.next_fire_at = Some(at("2020-12-31T09:00:00Z"));
    let fired = store
        .fire_schedules(&[a.clone(), b.clone(), stale.clone()])
        .await
        .unwrap();
    assert_eq!(keys(&fired), ["a", "b"]);
    for (fire, row) in [(&a, "a"), (&b, "b")] {
        let stored = store.get_trigger(&key(row)).await.unwrap();
        assert!(fired.contains(&stored), "returned as stored: {stored:?}");
        assert_eq!(stored.next_fire_at, Some(at("2021-01-02T09:00:00Z")));
        assert_eq!(stored.last_fire_at, Some(at("2021-01-01T09:00:00Z")));
        assert_eq!(stored.last_execution_id, Some(fire.execution.id));
        assert_eq!(stored.last_execution_state, Some(ExecutionState::Created));
        assert!(stored.is_waiting());
        store.get_execution(fire.execution.id).await.unwrap();
    }
    assert!(matches!(
        store.get_execution(stale.execution.id).await,
        Err(Error::ExecutionNotFound(_))
    ));
    let untouched = store.get_trigger(&key("stale")).await.unwrap();
    assert_eq!(untouched.next_fire_at, Some(at("2021-01-01T09:00:00Z")));
    assert_eq!(untouched.last_execution_id, None);
    assert_eq!(store.queue_len(Q).await.unwrap(), 2);

    // The fire keys are recorded: the same dates cannot fire again, by any path.
    let mut tx = store.lock_trigger(&key("a"), true).await.unwrap().unwrap();
    let again = tx
        .record_fire(&FireRecord {
            key: key("a"),
            fire_date: at("2021-01-01T09:00:00Z"),
            backfill_id: None,
            execution_id: uuid::Uuid::now_v7(),
        })
        .await;
    assert!(
        matches!(again, Err(Error::DuplicateFire { .. })),
        "{again:?}"
    );
    drop(tx);

    // `b` waits for its execution: its next date does not fire yet.
    let waiting = due(&store, "b", "2021-01-02T09:00:00Z", "2021-01-03T09:00:00Z").await;
    assert!(store.fire_schedules(&[waiting]).await.unwrap().is_empty());

    // `a`'s execution ended. Its row, put back to the date that fired, does not fire it twice;
    // its next date fires and releases the ended execution.
    let mut ended = store.get_execution(a.execution.id).await.unwrap();
    ended.state = ExecutionState::Success;
    ended.ended_at = Some(Utc::now());
    store.update_execution(&ended, 1, &[], &[]).await.unwrap();
    let replayed = due(&store, "a", "2021-01-01T09:00:00Z", "2021-01-02T09:00:00Z").await;
    assert!(store.fire_schedules(&[replayed]).await.unwrap().is_empty());
    let next = due(&store, "a", "2021-01-02T09:00:00Z", "2021-01-03T09:00:00Z").await;
    let fired = store
        .fire_schedules(std::slice::from_ref(&next))
        .await
        .unwrap();
    assert_eq!(keys(&fired), ["a"]);
    assert_eq!(fired[0].last_execution_id, Some(next.execution.id));
    assert_eq!(fired[0].next_fire_at, Some(at("2021-01-03T09:00:00Z")));
    assert_eq!(store.queue_len(Q).await.unwrap(), 3);
}
