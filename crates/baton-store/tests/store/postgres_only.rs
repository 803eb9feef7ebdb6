//! Behaviour only Postgres has: several processes on one database.

use std::time::{Duration, Instant};

use baton_store::{ExecutionStore, NewMessage, PgStore, PgStoreOptions, QueueStore};
use serde_json::json;

use crate::support::{self, PgServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_apply_once() {
    let options = PgServer::get().fresh_database().await;
    let stores: Vec<PgStore> = (0..4)
        .map(|_| PgStore::connect(PgStoreOptions::new(options.clone())))
        .collect();
    let runs: Vec<_> = stores
        .iter()
        .cloned()
        .map(|store| tokio::spawn(async move { store.migrate().await }))
        .collect();
    for run in runs {
        run.await
            .unwrap()
            .expect("every concurrent migrate succeeds");
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(stores[0].pool())
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(
        applied,
        i64::try_from(files).unwrap(),
        "each migration once"
    );
    stores[0]
        .migrate()
        .await
        .expect("migrating again is a no-op");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_skips_rows_locked_by_another_transaction() {
    let store = support::pg_store().await;
    let ids = store
        .enqueue(&[
            NewMessage::new("q", json!(1)),
            NewMessage::new("q", json!(2)),
        ])
        .await
        .unwrap();
    // An executor's step holds the first row (it is acking it) and has not committed.
    let mut tx = store.begin().await.unwrap();
    tx.ack(&ids[..1]).await.unwrap();
    let claimed = tokio::time::timeout(
        Duration::from_secs(5),
        store.claim("q", "c", 10, Duration::from_secs(30)),
    )
    .await
    .expect("claim does not wait for the lock")
    .unwrap();
    assert_eq!(claimed.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[1]]);
    tx.commit().await.unwrap();
    assert_eq!(store.queue_len("q").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notify_wakes_a_consumer_in_another_process() {
    let options = PgServer::get().fresh_database().await;
    let producer = PgStore::connect(PgStoreOptions::new(options.clone()));
    producer.migrate().await.unwrap();
    let consumer = PgStore::connect(PgStoreOptions::new(options));
    let wakeup = consumer.subscribe("q").await.unwrap();
    // The first wake-up may be the one sent when LISTEN starts; drain until a real one.
    let deadline = Instant::now() + Duration::from_secs(10);
    producer
        .enqueue(&[NewMessage::new("q", json!(1))])
        .await
        .unwrap();
    let mut claimed = Vec::new();
    while claimed.is_empty() && Instant::now() < deadline {
        assert!(wakeup.wait(Duration::from_secs(5)).await, "no wake-up");
        claimed = consumer
            .claim("q", "c", 1, Duration::from_secs(30))
            .await
            .unwrap();
    }
    assert_eq!(claimed.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trigger_another_scheduler_is_firing_is_skipped_then_free_again() {
    use baton_store::{FlowStore, FlowTriggers, TriggerKey, TriggerStore, TriggerSync};
    let store = support::pg_store().await;
    store
        .deploy_flow("ns", "f", "id: f\nnamespace: ns\ntasks: []\n", false)
        .await
        .unwrap();
    let row = TriggerSync {
        trigger_id: "t".into(),
        definition: json!({}),
        fingerprint: "x".into(),
        next_fire_at: None,
    };
    let flow = FlowTriggers {
        namespace: "ns".into(),
        flow_id: "f".into(),
        revision: 1,
        triggers: vec![row],
    };
    store.sync_triggers(&[flow]).await.unwrap();
    let key = TriggerKey::new("ns", "f", "t");
    let held = store.lock_trigger(&key, true).await.unwrap().expect("free");
    let skipped = tokio::time::timeout(Duration::from_secs(5), store.lock_trigger(&key, true))
        .await
        .expect("a skip-locked lock does not wait")
        .unwrap();
    assert!(skipped.is_none(), "held by the first transaction");
    // The holder dies without committing: its row is free again once the rollback reached
    // the server (a dropped transaction rolls back on its connection in the background).
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if store.lock_trigger(&key, true).await.unwrap().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the row stays locked after the holder died"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schedulers_firing_the_same_dates_together_create_one_execution_each() {
    use baton_store::{
        Execution, FlowStore, FlowTriggers, ScheduledFire, TriggerKey, TriggerStore, TriggerSync,
    };
    use chrono::{TimeDelta, Utc};
    const TRIGGERS: usize = 40;
    // Two schedulers: two stores, each with its pool.
    let options = PgServer::get().fresh_database().await;
    let store = PgStore::connect(PgStoreOptions::new(options.clone()));
    store.migrate().await.unwrap();
    let other = PgStore::connect(PgStoreOptions::new(options));
    store
        .deploy_flow("ns", "f", "id: f\nnamespace: ns\ntasks: []\n", false)
        .await
        .unwrap();
    let date = Utc::now();
    let triggers = (0..TRIGGERS)
        .map(|n| TriggerSync {
            trigger_id: format!("t{n}"),
            definition: json!({}),
            fingerprint: "x".into(),
            next_fire_at: Some(date),
        })
        .collect();
    let flow = FlowTriggers {
        namespace: "ns".into(),
        flow_id: "f".into(),
        revision: 1,
        triggers,
    };
    store.sync_triggers(&[flow]).await.unwrap();
    let mut batches = Vec::new();
    for _ in 0..2 {
        let mut fires = Vec::new();
        for n in 0..TRIGGERS {
            let execution = Execution::new("ns", "f", 1, json!({}));
            fires.push(ScheduledFire {
                armed: store
                    .get_trigger(&TriggerKey::new("ns", "f", &format!("t{n}")))
                    .await
                    .unwrap(),
                fire_date: date,
                next_fire_at: Some(date + TimeDelta::days(1)),
                messages: vec![NewMessage::new("executions", json!({"id": execution.id}))],
                execution,
            });
        }
        batches.push(fires);
    }
    let second = batches.pop().unwrap();
    let first = batches.pop().unwrap();
    let (one, two) = tokio::join!(store.fire_schedules(&first), other.fire_schedules(&second));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.len() + two.len(), TRIGGERS, "each date fired once");
    assert_eq!(
        store.queue_len("executions").await.unwrap(),
        TRIGGERS as u64
    );
    let executions: i64 = sqlx::query_scalar("SELECT count(*) FROM executions")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(executions, TRIGGERS as i64);
}
