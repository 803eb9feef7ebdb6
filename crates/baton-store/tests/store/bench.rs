//! Queue throughput, printed, not asserted. Run with
//! `cargo nextest run -p baton-store --run-ignored only bench --no-capture`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use baton_store::{NewMessage, Store};
use serde_json::json;

const MESSAGES: usize = 5000;
const CONSUMERS: usize = 4;
const BATCH: u32 = 50;

/// Enqueues `MESSAGES` in batches of 100, then drains them with `CONSUMERS` claim+ack loops.
async fn run_once(store: Arc<dyn Store>) -> (f64, f64) {
    let started = Instant::now();
    for chunk in (0..MESSAGES).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|i| NewMessage::new("bench", json!({"n": i})))
            .collect();
        store.enqueue(&batch).await.unwrap();
    }
    let enqueue_rate = MESSAGES as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                let name = format!("c{c}");
                while done.load(Ordering::SeqCst) < MESSAGES {
                    let claimed = store
                        .claim("bench", &name, BATCH, Duration::from_secs(60))
                        .await
                        .unwrap();
                    if claimed.is_empty() {
                        tokio::task::yield_now().await;
                        continue;
                    }
                    let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
                    store.ack(&ids).await.unwrap();
                    done.fetch_add(ids.len(), Ordering::SeqCst);
                }
            })
        })
        .collect();
    for consumer in consumers {
        consumer.await.unwrap();
    }
    (
        enqueue_rate,
        MESSAGES as f64 / started.elapsed().as_secs_f64(),
    )
}

async fn bench(name: &str, make: impl AsyncFn() -> crate::support::TestStore) {
    let mut enqueue = Vec::new();
    let mut drain = Vec::new();
    for _ in 0..3 {
        let store = make().await;
        let (e, d) = run_once(store.store.clone()).await;
        enqueue.push(e);
        drain.push(d);
    }
    enqueue.sort_by(f64::total_cmp);
    drain.sort_by(f64::total_cmp);
    println!(
        "{name}: enqueue {:.0} msg/s, claim+ack {:.0} msg/s (median of 3; {MESSAGES} messages, \
         {CONSUMERS} consumers, batches of {BATCH}); runs: {drain:.0?}",
        enqueue[1], drain[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: prints figures"]
async fn bench_queue_throughput() {
    bench("postgres", crate::support::postgres).await;
    bench("sqlite", crate::support::sqlite).await;
}
