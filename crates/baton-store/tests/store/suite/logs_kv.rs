use std::sync::Arc;
use std::time::Duration;

use baton_store::{LogEntry, LogLevel, Store};
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::eventually;

fn entry(execution_id: Uuid, message: &str) -> LogEntry {
    LogEntry {
        execution_id,
        task_run_id: Some("tr-1".into()),
        attempt: 1,
        level: LogLevel::Info,
        // Whole microseconds: both databases keep no finer precision.
        timestamp: chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap(),
        message: message.into(),
    }
}

pub async fn logs_come_back_in_order_and_follow_with_a_cursor(store: Arc<dyn Store>) {
    let (exec, other) = (Uuid::now_v7(), Uuid::now_v7());
    let first: Vec<_> = (0..5).map(|i| entry(exec, &format!("m{i}"))).collect();
    store.append_logs(&first).await.unwrap();
    store
        .append_logs(&[entry(other, "elsewhere")])
        .await
        .unwrap();
    store
        .append_logs(
            &(5..8)
                .map(|i| entry(exec, &format!("m{i}")))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();

    // Postgres only shows rows of transactions older than every running one (cluster-wide),
    // so allow for another test's open transaction.
    let page = eventually(Duration::from_secs(10), || {
        let store = store.clone();
        async move { Some(store.logs(exec, None, 4).await.unwrap()).filter(|p| p.len() == 4) }
    })
    .await
    .expect("four log lines");
    assert_eq!(
        page.iter()
            .map(|r| r.entry.message.as_str())
            .collect::<Vec<_>>(),
        ["m0", "m1", "m2", "m3"]
    );
    assert_eq!(page[0].entry, first[0]);
    let rest =
        eventually(Duration::from_secs(10), || {
            let store = store.clone();
            let after = page[3].cursor;
            async move {
                Some(store.logs(exec, Some(after), 100).await.unwrap()).filter(|p| p.len() == 4)
            }
        })
        .await
        .expect("the rest");
    assert_eq!(
        rest.iter()
            .map(|r| r.entry.message.as_str())
            .collect::<Vec<_>>(),
        ["m4", "m5", "m6", "m7"]
    );
    assert!(
        store
            .logs(exec, Some(rest[3].cursor), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn kv_values_expire_after_their_ttl(store: Arc<dyn Store>) {
    store
        .kv_set("ns", "forever", &json!({"a": 1}), None)
        .await
        .unwrap();
    store
        .kv_set(
            "ns",
            "brief",
            &json!("soon gone"),
            Some(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    store.kv_set("other", "x", &json!(1), None).await.unwrap();
    assert_eq!(
        store.kv_get("ns", "brief").await.unwrap().unwrap().value,
        json!("soon gone")
    );
    let keys =
        |entries: Vec<baton_store::KvEntry>| entries.into_iter().map(|e| e.key).collect::<Vec<_>>();
    assert_eq!(
        keys(store.kv_list("ns").await.unwrap()),
        ["brief", "forever"]
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.kv_get("ns", "brief").await.unwrap(), None, "expired");
    assert_eq!(keys(store.kv_list("ns").await.unwrap()), ["forever"]);

    store
        .kv_set("ns", "forever", &json!(2), None)
        .await
        .unwrap();
    assert_eq!(
        store.kv_get("ns", "forever").await.unwrap().unwrap().value,
        json!(2)
    );
    assert!(store.kv_delete("ns", "forever").await.unwrap());
    assert!(!store.kv_delete("ns", "forever").await.unwrap());
    assert_eq!(store.kv_get("ns", "forever").await.unwrap(), None);
}
