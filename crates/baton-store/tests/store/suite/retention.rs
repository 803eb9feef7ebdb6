use std::sync::Arc;
use std::time::Duration;

use baton_store::{
    Error, Execution, ExecutionState, LogEntry, LogLevel, LogPurgeFilter, NewMessage, PurgeFilter,
    Store,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use uuid::Uuid;

use super::eventually;

const Q: &str = "executor";

fn whole_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap()
}

/// Inserts an execution in `state`, ended `ended_days_ago` (None: still going), with two log
/// lines and a queue message keyed by it.
async fn seed(
    store: &Arc<dyn Store>,
    namespace: &str,
    flow_id: &str,
    state: ExecutionState,
    ended_days_ago: Option<i64>,
) -> Uuid {
    let mut exec = Execution::new(namespace, flow_id, 1, json!({"taskRunList": []}));
    exec.state = state;
    exec.created_at = whole_micros(Utc::now() - TimeDelta::days(60));
    exec.ended_at = ended_days_ago.map(|days| whole_micros(Utc::now() - TimeDelta::days(days)));
    let message =
        NewMessage::new(Q, json!({"executionId": exec.id.to_string()})).key(exec.id.to_string());
    store.create_execution(&exec, &message).await.unwrap();
    let line = |message: &str| LogEntry {
        execution_id: exec.id,
        task_run_id: None,
        attempt: 0,
        level: LogLevel::Info,
        timestamp: exec.ended_at.unwrap_or_else(|| whole_micros(Utc::now())),
        message: message.into(),
    };
    store
        .append_logs(&[line("one"), line("two")])
        .await
        .unwrap();
    exec.id
}

fn month_ago() -> DateTime<Utc> {
    Utc::now() - TimeDelta::days(30)
}

async fn log_count(store: &Arc<dyn Store>, id: Uuid) -> usize {
    store.logs(id, None, 100).await.unwrap().len()
}

pub async fn purge_deletes_ended_executions_with_their_rows_in_batches(store: Arc<dyn Store>) {
    let failed = seed(
        &store,
        "company.team",
        "hello",
        ExecutionState::Failed,
        Some(40),
    )
    .await;
    let succeeded = seed(
        &store,
        "company",
        "other",
        ExecutionState::Success,
        Some(45),
    )
    .await;
    let recent = seed(&store, "company", "hello", ExecutionState::Success, Some(1)).await;
    let running = seed(&store, "company", "hello", ExecutionState::Running, None).await;
    let paused = seed(&store, "company", "hello", ExecutionState::Paused, None).await;
    let elsewhere = seed(
        &store,
        "companyx",
        "hello",
        ExecutionState::Success,
        Some(40),
    )
    .await;
    // Postgres shows log lines once every older transaction ended.
    eventually(Duration::from_secs(10), || {
        let store = store.clone();
        async move { (log_count(&store, paused).await == 2).then_some(()) }
    })
    .await
    .expect("the seeded log lines");

    let mut filter = PurgeFilter::ended_before(month_ago());
    filter.namespace = Some("company".into());
    assert_eq!(store.count_purgeable_executions(&filter).await.unwrap(), 2);
    let only_failed = PurgeFilter {
        states: vec![ExecutionState::Failed],
        ..filter.clone()
    };
    assert_eq!(
        store
            .count_purgeable_executions(&only_failed)
            .await
            .unwrap(),
        1
    );
    let only_running = PurgeFilter {
        states: vec![ExecutionState::Running, ExecutionState::Paused],
        ..filter.clone()
    };
    assert_eq!(
        store
            .count_purgeable_executions(&only_running)
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .purge_executions(&only_running, 10)
            .await
            .unwrap()
            .executions
            .is_empty()
    );

    // Batches of one: the oldest end first, then the next, then nothing.
    let first = store.purge_executions(&filter, 1).await.unwrap();
    assert_eq!(first.executions.len(), 1);
    assert_eq!(first.executions[0].id, succeeded);
    assert_eq!(first.executions[0].namespace, "company");
    assert_eq!(first.executions[0].flow_id, "other");
    assert_eq!((first.logs, first.queue_messages), (2, 1));
    let second = store.purge_executions(&filter, 1).await.unwrap();
    assert_eq!(second.executions.len(), 1);
    assert_eq!(second.executions[0].id, failed);
    assert!(
        store
            .purge_executions(&filter, 1)
            .await
            .unwrap()
            .executions
            .is_empty()
    );

    for gone in [failed, succeeded] {
        assert!(matches!(
            store.get_execution(gone).await,
            Err(Error::ExecutionNotFound(_))
        ));
        assert_eq!(log_count(&store, gone).await, 0);
    }
    for kept in [recent, running, paused, elsewhere] {
        assert_eq!(store.get_execution(kept).await.unwrap().id, kept);
        assert_eq!(log_count(&store, kept).await, 2);
    }
    // The four kept executions' messages are still queued.
    assert_eq!(store.queue_len(Q).await.unwrap(), 4);
}

pub async fn purges_running_at_once_take_different_executions(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(
            seed(
                &store,
                "company",
                "hello",
                ExecutionState::Success,
                Some(40),
            )
            .await,
        );
    }
    let filter = PurgeFilter::ended_before(month_ago());
    let purgers = (0..4).map(|_| {
        let store = store.clone();
        let filter = filter.clone();
        tokio::spawn(async move {
            let mut purged = Vec::new();
            loop {
                let batch = store.purge_executions(&filter, 3).await.unwrap();
                if batch.executions.is_empty() {
                    return purged;
                }
                purged.extend(batch.executions.into_iter().map(|e| e.id));
            }
        })
    });
    let mut purged: Vec<Uuid> = Vec::new();
    for purger in purgers.collect::<Vec<_>>() {
        purged.extend(purger.await.unwrap());
    }
    purged.sort();
    ids.sort();
    assert_eq!(purged, ids, "each execution purged exactly once");
    assert_eq!(store.queue_len(Q).await.unwrap(), 0);
}

pub async fn logs_only_purge_keeps_executions(store: Arc<dyn Store>) {
    let old = seed(
        &store,
        "company.team",
        "hello",
        ExecutionState::Success,
        Some(40),
    )
    .await;
    let other_flow = seed(
        &store,
        "company",
        "other",
        ExecutionState::Success,
        Some(40),
    )
    .await;
    let recent = seed(&store, "company", "hello", ExecutionState::Success, Some(1)).await;
    let filter = LogPurgeFilter {
        before: month_ago(),
        namespace: Some("company".into()),
        flow_id: Some("hello".into()),
    };
    assert_eq!(store.count_purgeable_logs(&filter).await.unwrap(), 2);
    assert_eq!(store.purge_logs(&filter, 1).await.unwrap(), 1);
    assert_eq!(store.purge_logs(&filter, 10).await.unwrap(), 1);
    assert_eq!(store.purge_logs(&filter, 10).await.unwrap(), 0);
    let everything = LogPurgeFilter {
        before: month_ago(),
        namespace: None,
        flow_id: None,
    };
    assert_eq!(store.count_purgeable_logs(&everything).await.unwrap(), 2);
    assert_eq!(store.purge_logs(&everything, 100).await.unwrap(), 2);
    for id in [old, other_flow, recent] {
        assert_eq!(store.get_execution(id).await.unwrap().id, id);
    }
    let kept = eventually(Duration::from_secs(10), || {
        let store = store.clone();
        async move { (log_count(&store, recent).await == 2).then_some(()) }
    })
    .await;
    assert!(kept.is_some(), "the recent lines stay");
    assert_eq!(log_count(&store, old).await, 0);
}
