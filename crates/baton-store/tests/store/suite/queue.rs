use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_store::{NewMessage, Store};
use chrono::{TimeDelta, Utc};
use serde_json::json;

use super::eventually;

const Q: &str = "work";
const LONG: Duration = Duration::from_secs(60);

pub async fn claim_takes_due_messages_in_priority_order(store: Arc<dyn Store>) {
    let later = Utc::now() + TimeDelta::hours(1);
    store
        .enqueue(&[
            NewMessage::new(Q, json!("low")).priority(5),
            NewMessage::new(Q, json!("high")).priority(-1),
            NewMessage::new(Q, json!("future")).run_at(later),
            NewMessage::new(Q, json!("normal")),
            NewMessage::new("elsewhere", json!("other queue")),
        ])
        .await
        .unwrap();
    let claimed = store.claim(Q, "c1", 10, LONG).await.unwrap();
    let payloads: Vec<_> = claimed.iter().map(|c| c.payload.clone()).collect();
    assert_eq!(payloads, [json!("high"), json!("normal"), json!("low")]);
    assert!(
        claimed
            .iter()
            .all(|c| c.attempt == 1 && c.lease_expires_at > Utc::now())
    );
    assert_eq!(
        store
            .ack(&claimed.iter().map(|c| c.id).collect::<Vec<_>>())
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store.queue_len(Q).await.unwrap(),
        1,
        "only the future message is left"
    );
}

pub async fn claim_skips_claimed_messages(store: Arc<dyn Store>) {
    store
        .enqueue(&[NewMessage::new(Q, json!(1)), NewMessage::new(Q, json!(2))])
        .await
        .unwrap();
    let first = store.claim(Q, "c1", 1, LONG).await.unwrap();
    let second = store.claim(Q, "c2", 10, LONG).await.unwrap();
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_ne!(first[0].id, second[0].id);
    assert!(store.claim(Q, "c3", 10, LONG).await.unwrap().is_empty());
}

pub async fn claim_never_hands_a_message_to_two_consumers(store: Arc<dyn Store>) {
    const MESSAGES: usize = 500;
    let messages: Vec<_> = (0..MESSAGES)
        .map(|i| NewMessage::new(Q, json!(i)))
        .collect();
    store.enqueue(&messages).await.unwrap();
    let seen = Arc::new(Mutex::new(HashMap::<i64, usize>::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let mut consumers = Vec::new();
    for consumer in 0..8 {
        let (store, seen, done) = (store.clone(), seen.clone(), done.clone());
        consumers.push(tokio::spawn(async move {
            let name = format!("consumer-{consumer}");
            while done.load(Ordering::SeqCst) < MESSAGES {
                let claimed = store.claim(Q, &name, 7, LONG).await.unwrap();
                if claimed.is_empty() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                let ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();
                {
                    let mut seen = seen.lock().unwrap();
                    for id in &ids {
                        *seen.entry(*id).or_default() += 1;
                    }
                }
                store.ack(&ids).await.unwrap();
                done.fetch_add(ids.len(), Ordering::SeqCst);
            }
        }));
    }
    for consumer in consumers {
        tokio::time::timeout(Duration::from_secs(60), consumer)
            .await
            .unwrap()
            .unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.len(), MESSAGES);
    assert!(
        seen.values().all(|&count| count == 1),
        "a message was claimed twice"
    );
    assert_eq!(
        store.queue_len(Q).await.unwrap(),
        0,
        "consumed rows are deleted"
    );
}

pub async fn keyed_messages_are_claimed_one_at_a_time_in_order(store: Arc<dyn Store>) {
    store
        .enqueue(&[
            NewMessage::new(Q, json!("k1")).key("exec-1"),
            NewMessage::new(Q, json!("k2")).key("exec-1"),
            NewMessage::new(Q, json!("free")),
            NewMessage::new(Q, json!("other")).key("exec-2"),
        ])
        .await
        .unwrap();
    let claimed = store.claim(Q, "c1", 10, LONG).await.unwrap();
    let payloads: Vec<_> = claimed.iter().map(|c| c.payload.clone()).collect();
    assert_eq!(payloads, [json!("k1"), json!("free"), json!("other")]);
    assert!(
        store.claim(Q, "c2", 10, LONG).await.unwrap().is_empty(),
        "k2 waits for k1"
    );
    store.ack(&[claimed[0].id]).await.unwrap();
    let next = store.claim(Q, "c2", 10, LONG).await.unwrap();
    assert_eq!(
        next.iter().map(|c| c.payload.clone()).collect::<Vec<_>>(),
        [json!("k2")]
    );
}

pub async fn expired_lease_is_rescued_with_next_attempt(store: Arc<dyn Store>) {
    store
        .enqueue(&[NewMessage::new(Q, json!("job"))])
        .await
        .unwrap();
    let first = store
        .claim(Q, "dies", 1, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(first[0].attempt, 1);
    assert_eq!(
        store.rescue_expired().await.unwrap(),
        0,
        "lease still valid"
    );
    let rescued = eventually(Duration::from_secs(5), || {
        let store = store.clone();
        async move { (store.rescue_expired().await.unwrap() == 1).then_some(()) }
    })
    .await;
    assert!(rescued.is_some(), "the expired lease was never rescued");
    let second = store.claim(Q, "lives", 1, LONG).await.unwrap();
    assert_eq!((second[0].id, second[0].attempt), (first[0].id, 2));
    assert!(
        store
            .renew_leases("dies", &[first[0].id], LONG)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn renew_keeps_a_lease_alive(store: Arc<dyn Store>) {
    store
        .enqueue(&[NewMessage::new(Q, json!("job"))])
        .await
        .unwrap();
    let claimed = store
        .claim(Q, "c1", 1, Duration::from_millis(300))
        .await
        .unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let renewed = store
            .renew_leases("c1", &[claimed[0].id], Duration::from_millis(300))
            .await
            .unwrap();
        assert_eq!(renewed, [claimed[0].id]);
        assert_eq!(store.rescue_expired().await.unwrap(), 0);
    }
    assert!(
        store
            .renew_leases("c2", &[claimed[0].id], LONG)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn nack_delays_the_next_claim(store: Arc<dyn Store>) {
    store
        .enqueue(&[NewMessage::new(Q, json!("job"))])
        .await
        .unwrap();
    let claimed = store.claim(Q, "c1", 1, LONG).await.unwrap();
    let retry_at = Utc::now() + TimeDelta::milliseconds(400);
    assert!(store.nack(claimed[0].id, retry_at).await.unwrap());
    assert!(
        !store.nack(claimed[0].id, retry_at).await.unwrap(),
        "no longer claimed"
    );
    assert!(
        store.claim(Q, "c2", 1, LONG).await.unwrap().is_empty(),
        "not due yet"
    );
    let again = eventually(Duration::from_secs(5), || {
        let store = store.clone();
        async move { store.claim(Q, "c2", 1, LONG).await.unwrap().pop() }
    })
    .await
    .expect("claimable after retry_at");
    assert!(Utc::now() >= retry_at);
    assert_eq!((again.id, again.attempt), (claimed[0].id, 2));
}

pub async fn subscriber_is_woken_by_enqueue(store: Arc<dyn Store>) {
    let wakeup = store.subscribe(Q).await.unwrap();
    store
        .enqueue(&[NewMessage::new(Q, json!("wake"))])
        .await
        .unwrap();
    assert!(wakeup.wait(Duration::from_secs(5)).await, "no wake-up");
    assert_eq!(store.claim(Q, "c1", 1, LONG).await.unwrap().len(), 1);
}

pub async fn message_enqueued_claimed_is_its_consumers_until_the_lease_runs_out(
    store: Arc<dyn Store>,
) {
    let ids = store
        .enqueue(&[
            NewMessage::new(Q, json!("mine")).claimed_by("owner", Duration::from_millis(200)),
            NewMessage::new(Q, json!("free")),
        ])
        .await
        .unwrap();
    let others = store.claim(Q, "other", 10, LONG).await.unwrap();
    let payloads: Vec<_> = others.iter().map(|c| c.payload.clone()).collect();
    assert_eq!(
        payloads,
        [json!("free")],
        "the claimed message is not handed out"
    );
    assert_eq!(
        store
            .renew_leases("owner", &[ids[0]], Duration::from_millis(200))
            .await
            .unwrap(),
        [ids[0]],
        "its consumer holds it like a message it claimed"
    );
    let rescued = eventually(Duration::from_secs(5), || {
        let store = store.clone();
        async move { (store.rescue_expired().await.unwrap() == 1).then_some(()) }
    })
    .await;
    assert!(rescued.is_some(), "the expired lease was never rescued");
    let taken_over = store.claim(Q, "other", 10, LONG).await.unwrap();
    assert_eq!(
        (taken_over[0].id, taken_over[0].attempt),
        (ids[0], 2),
        "the second claim counts the first"
    );
}
