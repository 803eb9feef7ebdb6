//! The roles as separate processes on one Postgres, as a deployment runs them: a webserver,
//! two executors, a worker per executor. One executor is killed with SIGKILL mid-run; the other
//! finishes every execution. A `limit: 1` flow keeps its limit, and frees its slots, while
//! executors die and restart.

use std::time::Duration;

use baton_core::execution::State;
use baton_store::ConcurrencyStore;
use baton_tests::TOKEN;
use baton_tests::process::BatonProcess;
use serde_json::Value;

const FLOW: &str = r#"
id: steps
namespace: tests.processes
inputs:
  - id: n
    type: INT
tasks:
  - id: one
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 0.2
  - id: two
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.n }}"
  - id: three
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 0.2
"#;

fn server(role: &str, database_url: &str) -> anyhow::Result<BatonProcess> {
    BatonProcess::spawn(
        &[
            "server",
            role,
            "--listen",
            "127.0.0.1:0",
            "--claim-lease",
            "2",
            "--worker-lease",
            "2",
        ],
        &[
            ("BATON_DATABASE_URL", database_url),
            ("BATON_WORKER_TOKEN", TOKEN),
        ],
        true,
    )
}

fn worker(executor: &BatonProcess) -> anyhow::Result<BatonProcess> {
    let url = executor.url.clone().expect("executor url");
    BatonProcess::spawn(
        &["server", "worker", "--executor", &url, "--slots", "4"],
        &[("BATON_WORKER_TOKEN", TOKEN)],
        false,
    )
}

/// Deploys `source` through the webserver at `api`.
async fn deploy(http: &reqwest::Client, api: &str, source: &str) -> anyhow::Result<()> {
    baton_tests::rest::deploy_flow(http, api, source).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_executor_leaves_its_executions_to_the_other() -> anyhow::Result<()> {
    let database_url = baton_store::testing::PgServer::get()
        .fresh_database_url()
        .await;
    let web = server("webserver", &database_url)?;
    let mut doomed = server("executor", &database_url)?;
    let survivor = server("executor", &database_url)?;
    let _workers = [worker(&doomed)?, worker(&survivor)?];
    let api = format!("{}/api/v1", web.url.clone().expect("webserver url"));
    let http = reqwest::Client::new();

    deploy(&http, &api, FLOW).await?;
    let mut ids = Vec::new();
    for n in 0..12 {
        let created: Value = http
            .post(format!("{api}/executions/tests.processes/steps"))
            .json(&serde_json::json!({"n": n.to_string()}))
            .send()
            .await?
            .json()
            .await?;
        ids.push(created["id"].as_str().expect("execution id").to_owned());
    }
    // Let both executors take work, then kill one without warning.
    tokio::time::sleep(Duration::from_millis(300)).await;
    doomed.kill_hard()?;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for id in &ids {
        loop {
            let execution: Value = http
                .get(format!("{api}/executions/{id}"))
                .send()
                .await?
                .json()
                .await?;
            let state = execution["state"].as_str().unwrap_or_default().to_owned();
            if state == "SUCCESS" {
                let runs = execution["taskRuns"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(runs.len(), 3, "each task once: {execution}");
                break;
            }
            assert!(
                !matches!(state.as_str(), "FAILED" | "KILLED"),
                "{id} ended {state}: {execution}"
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} still {state} after 60 s: {execution}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

const LIMITED: &str = r#"
id: limited
namespace: tests.processes
concurrency:
  limit: 1
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 0.3
"#;

/// The limited flow's executions, read from the executions table.
async fn limited_executions(
    store: &dyn baton_store::Store,
) -> anyhow::Result<Vec<baton_core::execution::Execution>> {
    let filter = baton_store::ExecutionFilter {
        namespace: Some("tests.processes".into()),
        flow_id: Some("limited".into()),
        ..baton_store::ExecutionFilter::default()
    };
    let page = store.list_executions(&filter, None, 100).await?;
    anyhow::ensure!(page.next.is_none(), "more executions than expected");
    page.items
        .into_iter()
        .map(|row| Ok(serde_json::from_value(row.document)?))
        .collect()
}

/// A `limit: 1` flow while executors die and come back: one executor is SIGKILLed mid-burst,
/// then the other, and a fresh one is started (a restart). Every execution still succeeds,
/// never two ran at once, and no slot is left behind: slots live in the transactions that
/// change execution states, so a dead executor cannot take one with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_holds_and_frees_its_slots_when_executors_die_and_restart()
-> anyhow::Result<()> {
    let database_url = baton_store::testing::PgServer::get()
        .fresh_database_url()
        .await;
    let store =
        baton_store::PgStore::connect(baton_store::PgStoreOptions::from_url(&database_url)?);
    let web = server("webserver", &database_url)?;
    let mut first = server("executor", &database_url)?;
    let mut second = server("executor", &database_url)?;
    let mut workers = vec![worker(&first)?, worker(&second)?];
    let api = format!("{}/api/v1", web.url.clone().expect("webserver url"));
    let http = reqwest::Client::new();
    deploy(&http, &api, LIMITED).await?;
    const COUNT: usize = 10;
    for _ in 0..COUNT {
        let created = http
            .post(format!("{api}/executions/tests.processes/limited"))
            .send()
            .await?;
        anyhow::ensure!(
            created.status().is_success(),
            "create: {}",
            created.text().await?
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.kill_hard()?;
    // The survivor and a restarted executor (with a worker of its own) share the rest.
    let restarted = server("executor", &database_url)?;
    workers.push(worker(&restarted)?);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    second.kill_hard()?;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let all = loop {
        let all = limited_executions(&store).await?;
        if all.len() == COUNT && all.iter().all(|e| e.state.is_terminal()) {
            break all;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{} of {COUNT} ended after 90 s",
            all.iter().filter(|e| e.state.is_terminal()).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for execution in &all {
        assert_eq!(
            execution.state,
            State::Success,
            "{}: {:?}",
            execution.id,
            execution.error
        );
    }
    // Running intervals (first RUNNING to the end) of a limit-1 flow never overlap.
    let mut intervals: Vec<_> = all
        .iter()
        .map(|e| {
            let started = e
                .history
                .iter()
                .find(|change| change.state == State::Running)
                .map(|change| change.at);
            (started.expect("it ran"), e.ended_at.expect("it ended"))
        })
        .collect();
    intervals.sort();
    for pair in intervals.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "two ran at once: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
    let queued = all
        .iter()
        .filter(|e| e.history.iter().any(|c| c.state == State::Queued))
        .count();
    assert!(queued > 0, "the burst waited for the slot");
    let left = store
        .concurrency_slots("tests.processes", "limited")
        .await?;
    assert!(left.is_empty(), "slots left behind: {left:?}");
    drop(restarted);
    Ok(())
}
