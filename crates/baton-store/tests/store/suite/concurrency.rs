use std::sync::Arc;
use std::time::Duration;

use baton_store::{Execution, NewMessage, SlotDecision, SlotRequest, SlotState, Store};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use uuid::Uuid;

const NS: &str = "company.team";
const FLOW: &str = "limited";
const NONE: [Uuid; 0] = [];

/// A stored execution of the limited flow (slots reference executions), created at `at`.
async fn execution(store: &Arc<dyn Store>, at: DateTime<Utc>) -> Uuid {
    let mut row = Execution::new(NS, FLOW, 1, json!({}));
    row.created_at = at;
    store
        .create_execution(&row, &NewMessage::new("q", json!(0)))
        .await
        .unwrap();
    row.id
}

async fn executions(store: &Arc<dyn Store>, count: usize) -> Vec<Uuid> {
    let start = Utc::now();
    let mut ids = Vec::new();
    for n in 0..count {
        ids.push(execution(store, start + TimeDelta::milliseconds(n as i64)).await);
    }
    ids
}

fn request(id: Uuid, limit: u32, queue: bool, queued_at: DateTime<Utc>) -> SlotRequest<'static> {
    SlotRequest {
        namespace: NS,
        flow_id: FLOW,
        execution_id: id,
        limit,
        queue,
        queued_at,
    }
}

async fn acquire(store: &Arc<dyn Store>, request: SlotRequest<'_>) -> SlotDecision {
    let mut tx = store.begin().await.unwrap();
    let decision = tx.acquire_slot(&request).await.unwrap();
    tx.commit().await.unwrap();
    decision
}

async fn release(store: &Arc<dyn Store>, id: Uuid) -> Vec<Uuid> {
    let mut tx = store.begin().await.unwrap();
    let promoted = tx.release_slot(NS, FLOW, id).await.unwrap();
    tx.commit().await.unwrap();
    promoted
}

async fn slots(store: &Arc<dyn Store>) -> Vec<(Uuid, SlotState)> {
    store
        .concurrency_slots(NS, FLOW)
        .await
        .unwrap()
        .into_iter()
        .map(|slot| (slot.execution_id, slot.state))
        .collect()
}

pub async fn slots_admit_up_to_the_limit_and_queue_the_rest_in_order(store: Arc<dyn Store>) {
    let ids = executions(&store, 4).await;
    let now = Utc::now();
    let mut decisions = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let at = now + TimeDelta::milliseconds(n as i64);
        decisions.push(acquire(&store, request(*id, 2, true, at)).await);
    }
    use SlotDecision::{Acquired, Queued};
    assert_eq!(decisions, [Acquired, Acquired, Queued, Queued]);
    assert_eq!(
        slots(&store).await,
        [
            (ids[0], SlotState::Running),
            (ids[1], SlotState::Running),
            (ids[2], SlotState::Queued),
            (ids[3], SlotState::Queued),
        ]
    );
    assert_eq!(
        release(&store, ids[0]).await,
        [ids[2]],
        "the oldest waits least"
    );
    assert_eq!(release(&store, ids[2]).await, [ids[3]]);
    assert_eq!(release(&store, ids[1]).await, NONE, "nobody left waiting");
    assert_eq!(release(&store, ids[3]).await, NONE);
    assert!(slots(&store).await.is_empty(), "every slot freed");
    assert_eq!(
        release(&store, ids[3]).await,
        NONE,
        "releasing twice is harmless"
    );
}

pub async fn a_full_flow_refuses_without_queue_behaviour(store: Arc<dyn Store>) {
    let ids = executions(&store, 2).await;
    let now = Utc::now();
    assert_eq!(
        acquire(&store, request(ids[0], 1, false, now)).await,
        SlotDecision::Acquired
    );
    assert_eq!(
        acquire(&store, request(ids[1], 1, false, now)).await,
        SlotDecision::Refused
    );
    assert_eq!(slots(&store).await, [(ids[0], SlotState::Running)]);
}

pub async fn acquiring_again_keeps_the_slot_or_the_place_in_line(store: Arc<dyn Store>) {
    let ids = executions(&store, 3).await;
    let now = Utc::now();
    let at = |n: i64| now + TimeDelta::milliseconds(n);
    assert_eq!(
        acquire(&store, request(ids[0], 1, true, at(0))).await,
        SlotDecision::Acquired
    );
    assert_eq!(
        acquire(&store, request(ids[0], 1, true, at(9))).await,
        SlotDecision::Acquired,
        "a held slot is kept"
    );
    assert_eq!(
        acquire(&store, request(ids[1], 1, true, at(1))).await,
        SlotDecision::Queued
    );
    assert_eq!(
        acquire(&store, request(ids[2], 1, true, at(2))).await,
        SlotDecision::Queued
    );
    // A second wake-up of the first waiter must not move it behind the second.
    assert_eq!(
        acquire(&store, request(ids[1], 1, true, at(5))).await,
        SlotDecision::Queued
    );
    assert_eq!(release(&store, ids[0]).await, [ids[1]]);
    assert_eq!(
        acquire(&store, request(ids[1], 1, true, at(6))).await,
        SlotDecision::Acquired,
        "a promoted execution finds its slot"
    );
    assert_eq!(slots(&store).await.len(), 2);
}

pub async fn the_head_of_the_queue_is_never_overtaken(store: Arc<dyn Store>) {
    let ids = executions(&store, 4).await;
    let now = Utc::now();
    let at = |n: i64| now + TimeDelta::milliseconds(n);
    // Two running under a limit of 2; then a waiter from a revision with limit 1, then one
    // from a revision with limit 3.
    assert_eq!(
        acquire(&store, request(ids[0], 2, true, at(0))).await,
        SlotDecision::Acquired
    );
    assert_eq!(
        acquire(&store, request(ids[1], 2, true, at(1))).await,
        SlotDecision::Acquired
    );
    assert_eq!(
        acquire(&store, request(ids[2], 1, true, at(2))).await,
        SlotDecision::Queued
    );
    assert_eq!(
        acquire(&store, request(ids[3], 3, true, at(3))).await,
        SlotDecision::Queued,
        "a free slot under its own limit, but someone waits before it"
    );
    assert_eq!(
        release(&store, ids[0]).await,
        NONE,
        "one still runs: the head (limit 1) keeps waiting and blocks the rest"
    );
    assert_eq!(
        release(&store, ids[1]).await,
        [ids[2], ids[3]],
        "once the head runs, the next one's own limit (3) lets it run too"
    );
    assert_eq!(release(&store, ids[2]).await, NONE);
}

pub async fn a_rolled_back_decision_takes_no_slot(store: Arc<dyn Store>) {
    let ids = executions(&store, 2).await;
    let now = Utc::now();
    {
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.acquire_slot(&request(ids[0], 1, false, now))
                .await
                .unwrap(),
            SlotDecision::Acquired
        );
        // Dropped: the executor died before committing its step.
    }
    assert!(slots(&store).await.is_empty());
    assert_eq!(
        acquire(&store, request(ids[1], 1, false, now)).await,
        SlotDecision::Acquired
    );
}

/// Fifty transactions race for three slots, each holding its transaction open for a moment
/// after deciding: exactly three win. On Postgres this is the flow row lock at work.
pub async fn racing_acquires_never_exceed_the_limit(store: Arc<dyn Store>) {
    let ids = executions(&store, 50).await;
    let now = Utc::now();
    let mut racers = tokio::task::JoinSet::new();
    for id in ids {
        let store = store.clone();
        racers.spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let decision = tx.acquire_slot(&request(id, 3, false, now)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
            tx.commit().await.unwrap();
            decision
        });
    }
    let mut acquired = 0;
    while let Some(decision) = racers.join_next().await {
        if decision.unwrap() == SlotDecision::Acquired {
            acquired += 1;
        }
    }
    assert_eq!(acquired, 3);
    assert_eq!(slots(&store).await.len(), 3);
}

pub async fn flows_generation_grows_with_every_flow_change(store: Arc<dyn Store>) {
    let start = store.flows_generation().await.unwrap();
    let source = "id: watched\nnamespace: company.team\ntasks: []\n";
    store
        .deploy_flow(NS, "watched", source, false)
        .await
        .unwrap();
    let deployed = store.flows_generation().await.unwrap();
    assert!(deployed > start, "{deployed} > {start}");
    store
        .deploy_flow(NS, "watched", source, false)
        .await
        .unwrap();
    assert_eq!(
        store.flows_generation().await.unwrap(),
        deployed,
        "an identical deploy changes nothing"
    );
    store
        .deploy_flow(NS, "watched", source, true)
        .await
        .unwrap();
    let disabled = store.flows_generation().await.unwrap();
    assert!(disabled > deployed);
    store.delete_flow(NS, "watched").await.unwrap();
    assert!(store.flows_generation().await.unwrap() > disabled);
}

/// A trigger's window is read under a lock: a second transaction waits for the first to
/// commit and then sees what it wrote, so two executors never both act on a stale window.
pub async fn trigger_windows_keep_their_state_and_take_turns(store: Arc<dyn Store>) {
    let trigger = baton_store::TriggerKey::new(NS, "report", "both");
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.lock_trigger_window(&trigger).await.unwrap(), None);
    tx.save_trigger_window(&trigger, Some(&json!({"met": ["a"]})))
        .await
        .unwrap();
    let second = {
        let store = store.clone();
        let trigger = trigger.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let seen = tx.lock_trigger_window(&trigger).await.unwrap();
            tx.save_trigger_window(&trigger, None).await.unwrap();
            tx.commit().await.unwrap();
            seen
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!second.is_finished(), "the second waits for the first");
    tx.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), Some(json!({"met": ["a"]})));
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.lock_trigger_window(&trigger).await.unwrap(),
        None,
        "cleared"
    );
}
