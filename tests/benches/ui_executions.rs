//! Server time of the UI's executions list (`GET /ui/executions`) with 100,000 executions in the
//! store, on SQLite and on Postgres: the request goes through the whole router (auth layer,
//! handler, store query, template) in process, so the figure is the server's share of a page
//! load, without the network.
//!
//! `cargo bench -p baton-tests --bench ui_executions` prints the median and p90 of each page
//! kind: the first page, a flow's, a state's, a label's, and a page 2,000 pages deep (keyset
//! pagination: it should cost what the first does). The target is a median under 50 ms.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use baton_core::execution::State;
use baton_store::{Execution, Store};
use baton_tests::TestCluster;
use baton_webserver::{ApiState, router};
use chrono::{TimeDelta, Utc};
use tower::ServiceExt;
use uuid::Uuid;

const EXECUTIONS: usize = 100_000;
const FLOWS: usize = 20;
const BATCH: usize = 2_000;
const RUNS: usize = 30;

/// An execution document of a usual size: three task runs with their history and outputs.
fn document(
    id: &Uuid,
    flow: &str,
    state: State,
    created: chrono::DateTime<Utc>,
) -> serde_json::Value {
    let task_run = |n: usize| {
        serde_json::json!({
            "id": format!("{id}-{n}"), "taskId": format!("task_{n}"), "parentId": null,
            "branch": null, "value": null, "iteration": null, "state": "SUCCESS",
            "history": [{"state": "CREATED", "at": created}, {"state": "RUNNING", "at": created},
                        {"state": "SUCCESS", "at": created}],
            "attempts": [{"state": "SUCCESS", "createdAt": created, "startedAt": created,
                          "endedAt": created, "workerId": "worker-1"}],
            "outputs": {"value": format!("result of task {n}")}, "error": null
        })
    };
    serde_json::json!({
        "id": id.to_string(), "namespace": "bench.ui", "flowId": flow, "flowRevision": 1,
        "state": state, "history": [{"state": "CREATED", "at": created}, {"state": state, "at": created}],
        "inputs": {"region": "eu-west", "count": 3}, "labels": {"team": "data"},
        "trigger": null, "taskRuns": [task_run(1), task_run(2), task_run(3)], "outputs": {},
        "createdAt": created, "endedAt": created, "originalId": null, "error": null
    })
}

/// Fills the store; returns the cursor (`next` form) of the row 50,000 rows down.
async fn fill(store: &dyn Store) -> anyhow::Result<String> {
    let now = Utc::now();
    let mut deep_cursor = String::new();
    for batch in 0..EXECUTIONS / BATCH {
        let mut tx = store.begin().await?;
        for i in batch * BATCH..(batch + 1) * BATCH {
            let flow = format!("flow_{}", i % FLOWS);
            let state = match i % 10 {
                0 => State::Failed,
                1 => State::Warning,
                _ => State::Success,
            };
            let created = now - TimeDelta::milliseconds(i as i64 * 10);
            let mut row = Execution::new("bench.ui", &flow, 1, serde_json::Value::Null);
            row.created_at = created;
            row.ended_at = Some(created + TimeDelta::milliseconds(850));
            row.state = state;
            row.labels.insert(
                "team".into(),
                if i % 4 == 0 { "ops" } else { "data" }.into(),
            );
            row.document = document(&row.id, &flow, state, created);
            if i == EXECUTIONS / 2 {
                deep_cursor = format!(
                    "{}_{}",
                    created.timestamp_nanos_opt().unwrap_or_default(),
                    row.id
                );
            }
            tx.insert_execution(&row).await?;
        }
        tx.commit().await?;
    }
    Ok(deep_cursor)
}

async fn time(app: &axum::Router, path: &str) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::new();
    for run in 0..RUNS + 3 {
        let request = Request::get(path).body(Body::empty())?;
        let start = Instant::now();
        let response = app.clone().oneshot(request).await?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        let elapsed = start.elapsed();
        anyhow::ensure!(status == StatusCode::OK, "{path}: {status}");
        let row = b"<a class=\"mono\" href=\"/ui/executions/";
        anyhow::ensure!(
            body.windows(row.len()).any(|w| w == row),
            "{path}: no execution on the page"
        );
        if run >= 3 {
            times.push(elapsed);
        }
    }
    times.sort();
    Ok(times)
}

async fn bench(backend: &str, cluster: TestCluster) -> anyhow::Result<()> {
    let started = Instant::now();
    let deep = fill(cluster.store.as_ref()).await?;
    println!(
        "{backend}: stored {EXECUTIONS} executions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let app = router(ApiState::new(
        cluster.store.clone(),
        cluster.executor.clone(),
    ));
    let pages = [
        ("first page", "/ui/executions".to_owned()),
        ("one flow", "/ui/executions?flowId=flow_7".to_owned()),
        ("FAILED only", "/ui/executions?state=FAILED".to_owned()),
        (
            "label team:ops",
            "/ui/executions?labels=team:ops".to_owned(),
        ),
        ("2,000 pages deep", format!("/ui/executions?after={deep}")),
    ];
    for (what, path) in pages {
        let times = time(&app, &path).await?;
        println!(
            "{backend}: executions list, {what}: median {:.2} ms, p90 {:.2} ms ({RUNS} requests)",
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() * 9 / 10].as_secs_f64() * 1e3,
        );
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    bench("sqlite", TestCluster::builder().start().await?).await?;
    bench("postgres", TestCluster::builder().postgres().start().await?).await?;
    Ok(())
}
