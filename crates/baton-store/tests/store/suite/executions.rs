use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use baton_store::{Error, Execution, ExecutionFilter, ExecutionState, NewMessage, Store};
use chrono::{TimeDelta, Utc};
use serde_json::json;

const Q: &str = "executor";

fn execution() -> Execution {
    Execution::new("company.team", "hello", 1, json!({"taskRunList": []}))
}

pub async fn create_execution_commits_row_and_message_together(store: Arc<dyn Store>) {
    let exec = execution();
    let message = NewMessage::new(Q, json!({"execution": exec.id})).key(exec.id.to_string());
    let created = store.create_execution(&exec, &message).await.unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(created.document, exec.document);
    assert_eq!(store.get_execution(exec.id).await.unwrap(), created);
    let claimed = store
        .claim(Q, "c1", 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].payload, message.payload);
}

pub async fn failed_create_leaves_neither_row_nor_message(store: Arc<dyn Store>) {
    let exec = execution();
    // The execution insert succeeds, then the message violates the queue name CHECK.
    let bad = NewMessage::new("", json!({}));
    assert!(matches!(
        store.create_execution(&exec, &bad).await,
        Err(Error::Database(_))
    ));
    assert!(matches!(
        store.get_execution(exec.id).await,
        Err(Error::ExecutionNotFound(_))
    ));
    assert_eq!(store.queue_len("").await.unwrap(), 0);
}

pub async fn dropped_transaction_leaves_nothing(store: Arc<dyn Store>) {
    let exec = execution();
    {
        let mut tx = store.begin().await.unwrap();
        tx.insert_execution(&exec).await.unwrap();
        tx.enqueue(&[NewMessage::new(Q, json!(1))]).await.unwrap();
        // Dropped without commit, as when the process dies mid-step.
    }
    assert!(matches!(
        store.get_execution(exec.id).await,
        Err(Error::ExecutionNotFound(_))
    ));
    assert_eq!(store.queue_len(Q).await.unwrap(), 0);
}

pub async fn update_with_stale_version_conflicts_and_changes_nothing(store: Arc<dyn Store>) {
    let exec = store
        .create_execution(&execution(), &NewMessage::new(Q, json!(0)))
        .await
        .unwrap();
    let mut running = exec.clone();
    running.state = ExecutionState::Running;
    let updated = store.update_execution(&running, 1, &[], &[]).await.unwrap();
    assert_eq!(
        (updated.version, updated.state),
        (2, ExecutionState::Running)
    );

    let mut stale = exec.clone();
    stale.state = ExecutionState::Failed;
    let result = store
        .update_execution(&stale, 1, &[NewMessage::new(Q, json!(1))], &[])
        .await;
    assert!(
        matches!(result, Err(Error::Conflict { expected: 1, .. })),
        "{result:?}"
    );
    assert_eq!(store.get_execution(exec.id).await.unwrap(), updated);
    assert_eq!(
        store.queue_len(Q).await.unwrap(),
        1,
        "the conflicting enqueue rolled back"
    );

    let mut missing = execution();
    missing.version = 1;
    assert!(matches!(
        store.update_execution(&missing, 1, &[], &[]).await,
        Err(Error::ExecutionNotFound(_))
    ));
}

pub async fn update_enqueues_and_acks_atomically(store: Arc<dyn Store>) {
    let exec = store
        .create_execution(&execution(), &NewMessage::new(Q, json!(0)))
        .await
        .unwrap();
    let consumed = store
        .claim(Q, "c1", 1, Duration::from_secs(30))
        .await
        .unwrap();
    let mut done = exec.clone();
    done.state = ExecutionState::Success;
    done.ended_at = Some(Utc::now());
    let next = [NewMessage::new("worker", json!({"task": "a"}))];
    store
        .update_execution(&done, 1, &next, &[consumed[0].id])
        .await
        .unwrap();
    assert_eq!(
        store.queue_len(Q).await.unwrap(),
        0,
        "acked message deleted"
    );
    assert_eq!(store.queue_len("worker").await.unwrap(), 1);
    let stored = store.get_execution(exec.id).await.unwrap();
    assert_eq!((stored.state, stored.version), (ExecutionState::Success, 2));
    assert!(stored.ended_at.is_some());
}

pub async fn write_step_writes_enqueues_and_acks_or_nothing(store: Arc<dyn Store>) {
    let exec = store
        .create_execution(&execution(), &NewMessage::new(Q, json!(0)))
        .await
        .unwrap();
    let consumed = store
        .claim(Q, "c1", 1, Duration::from_secs(30))
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    let locked = tx.lock_execution(exec.id).await.unwrap();
    let mut running = locked.clone();
    running.state = ExecutionState::Running;
    let next = [
        NewMessage::new("worker", json!({"task": "a"})),
        NewMessage::new("worker", json!({"task": "b"})).claimed_by("c1", Duration::from_secs(30)),
        NewMessage::new(Q, json!({"task": "c"})),
    ];
    // A stale version writes nothing, enqueues nothing and acks nothing.
    assert!(matches!(
        tx.write_step(&running, locked.version + 1, &next, &[consumed[0].id])
            .await,
        Err(Error::Conflict { .. })
    ));
    drop(tx);
    assert_eq!(store.queue_len(Q).await.unwrap(), 1);
    assert_eq!(store.queue_len("worker").await.unwrap(), 0);

    let mut tx = store.begin().await.unwrap();
    let locked = tx.lock_execution(exec.id).await.unwrap();
    let ids = tx
        .write_step(&running, locked.version, &next, &[consumed[0].id])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids in the messages' order"
    );
    let stored = store.get_execution(exec.id).await.unwrap();
    assert_eq!((stored.state, stored.version), (ExecutionState::Running, 2));
    // The acked message is gone; the new one on Q is claimable, the claimed one is not.
    let claimed = store
        .claim(Q, "c2", 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].id, &claimed[0].payload),
        (ids[2], &json!({"task": "c"}))
    );
    let workers = store
        .claim("worker", "c2", 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        workers.len(),
        1,
        "the message enqueued claimed stays with c1"
    );
    assert_eq!(workers[0].id, ids[0]);
    assert_eq!(
        store
            .renew_leases("c1", &[ids[1]], Duration::from_secs(30))
            .await
            .unwrap(),
        vec![ids[1]]
    );

    // A missing execution is told apart from a conflict.
    let mut tx = store.begin().await.unwrap();
    let mut missing = execution();
    missing.state = ExecutionState::Running;
    assert!(matches!(
        tx.write_step(&missing, 1, &[], &[]).await,
        Err(Error::ExecutionNotFound(_))
    ));
}

pub async fn lock_unless_skips_only_a_known_document(store: Arc<dyn Store>) {
    let exec = store
        .create_execution(&execution(), &NewMessage::new(Q, json!(0)))
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    // The caller holds version 1: everything but the document comes back.
    let known = tx.lock_execution_unless(exec.id, 1).await.unwrap();
    assert_eq!(known.document, serde_json::Value::Null);
    assert_eq!((known.version, known.state), (1, exec.state));
    let mut written = exec.clone();
    written.document = json!({"taskRunList": [{"id": "a"}]});
    tx.update_execution(&written, 1).await.unwrap();
    tx.commit().await.unwrap();
    // Someone else wrote version 2: the caller's version 1 is stale and gets the new document.
    let mut tx = store.begin().await.unwrap();
    let stale = tx.lock_execution_unless(exec.id, 1).await.unwrap();
    assert_eq!((stale.version, &stale.document), (2, &written.document));
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.lock_execution_unless(uuid::Uuid::now_v7(), 1).await,
        Err(Error::ExecutionNotFound(_))
    ));
}

pub async fn lock_execution_serializes_writers(store: Arc<dyn Store>) {
    let exec = store
        .create_execution(&execution(), &NewMessage::new(Q, json!(0)))
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    let locked = tx.lock_execution(exec.id).await.unwrap();

    let other = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let mut seen = tx.lock_execution(exec.id).await.unwrap();
            let version = seen.version;
            seen.state = ExecutionState::Success;
            let written = tx.update_execution(&seen, version).await.unwrap();
            tx.commit().await.unwrap();
            (version, written.version)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!other.is_finished(), "the second writer waits for the lock");

    let mut running = locked.clone();
    running.state = ExecutionState::Running;
    tx.update_execution(&running, locked.version).await.unwrap();
    tx.commit().await.unwrap();
    let (seen_version, written_version) = tokio::time::timeout(Duration::from_secs(10), other)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (seen_version, written_version),
        (2, 3),
        "it saw the first writer's commit"
    );
}

pub async fn list_executions_filters_and_pages_newest_first(store: Arc<dyn Store>) {
    // Whole microseconds: both databases keep no finer precision.
    let now = Utc::now() - TimeDelta::hours(1);
    let base = chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap();
    let mut all = Vec::new();
    for i in 0..30i64 {
        let mut exec = execution();
        exec.flow_id = if i % 3 == 0 {
            "other".into()
        } else {
            "hello".into()
        };
        exec.state = if i % 2 == 0 {
            ExecutionState::Success
        } else {
            ExecutionState::Failed
        };
        // A child namespace matches a namespace filter; a longer sibling name does not.
        if i % 5 == 0 {
            exec.namespace = "company.team.sub".into();
        } else if i % 7 == 0 {
            exec.namespace = "company.teamx".into();
        }
        // Pairs share a timestamp, so the id breaks ties.
        exec.created_at = base + TimeDelta::seconds(i / 2);
        exec.labels = BTreeMap::from([("env".into(), if i < 10 { "prod" } else { "dev" }.into())]);
        let created = store
            .create_execution(&exec, &NewMessage::new(Q, json!(i)))
            .await
            .unwrap();
        all.push(created);
    }
    all.sort_by_key(|e| std::cmp::Reverse((e.created_at, e.id)));

    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_executions(&ExecutionFilter::default(), after, 7)
            .await
            .unwrap();
        pages.extend(page.items.iter().map(|e| e.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        pages,
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        "every row once, in order"
    );

    let ids = |filter: ExecutionFilter| {
        let store = store.clone();
        async move {
            let page = store.list_executions(&filter, None, 100).await.unwrap();
            page.items.into_iter().map(|e| e.id).collect::<HashSet<_>>()
        }
    };
    let expect = |keep: &dyn Fn(&Execution) -> bool| {
        all.iter()
            .filter(|e| keep(e))
            .map(|e| e.id)
            .collect::<HashSet<_>>()
    };
    let filter = ExecutionFilter {
        namespace: Some("company.team".into()),
        flow_id: Some("hello".into()),
        states: vec![ExecutionState::Failed],
        ..ExecutionFilter::default()
    };
    assert_eq!(
        ids(filter).await,
        expect(&|e| e.namespace != "company.teamx"
            && e.flow_id == "hello"
            && e.state == ExecutionState::Failed)
    );
    let filter = ExecutionFilter {
        namespace: Some("company.team.sub".into()),
        ..ExecutionFilter::default()
    };
    assert_eq!(
        ids(filter).await,
        expect(&|e| e.namespace == "company.team.sub")
    );
    let filter = ExecutionFilter {
        labels: BTreeMap::from([("env".into(), "prod".into())]),
        ..ExecutionFilter::default()
    };
    assert_eq!(ids(filter).await, expect(&|e| e.labels["env"] == "prod"));
    let (from, to) = (base + TimeDelta::seconds(5), base + TimeDelta::seconds(10));
    let filter = ExecutionFilter {
        created_from: Some(from),
        created_to: Some(to),
        ..ExecutionFilter::default()
    };
    assert_eq!(
        ids(filter).await,
        expect(&|e| e.created_at >= from && e.created_at < to)
    );
    let filter = ExecutionFilter {
        namespace: Some("nope".into()),
        ..ExecutionFilter::default()
    };
    assert!(ids(filter).await.is_empty());
}
