//! Postgres crashes and comes back mid-run. The roles run as separate processes (a webserver,
//! two executors, a worker per executor); the database is stopped with `-m immediate` (every
//! connection cut, no checkpoint), kept down for two seconds, and started again. Every execution
//! must still reach SUCCESS with each task run exactly once.
//!
//! This is the only test in its binary: the test Postgres is shared by a binary's tests.

use std::time::Duration;

use baton_store::testing::PgServer;
use baton_tests::TOKEN;
use baton_tests::process::BatonProcess;
use serde_json::Value;

const FLOW: &str = r#"
id: steps
namespace: tests.restart
inputs:
  - id: n
    type: INT
tasks:
  - id: one
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 0.3
  - id: two
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.n }}"
  - id: three
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 0.3
"#;

const EXECUTIONS: usize = 16;

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

/// GETs JSON, retrying while the webserver answers with an error (it does while Postgres is down).
async fn get_json(http: &reqwest::Client, url: &str, deadline: tokio::time::Instant) -> Value {
    loop {
        let answer = http.get(url).send().await;
        if let Ok(response) = answer
            && response.status().is_success()
            && let Ok(value) = response.json::<Value>().await
        {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} kept failing until the deadline"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_survive_a_postgres_crash_and_restart() -> anyhow::Result<()> {
    let postgres = PgServer::get();
    let database_url = postgres.fresh_database_url().await;
    let web = server("webserver", &database_url)?;
    let executors = [
        server("executor", &database_url)?,
        server("executor", &database_url)?,
    ];
    let _workers = [worker(&executors[0])?, worker(&executors[1])?];
    let api = format!("{}/api/v1", web.url.clone().expect("webserver url"));
    let http = reqwest::Client::new();

    let deployed = http
        .post(format!("{api}/flows"))
        .header("content-type", "application/x-yaml")
        .body(FLOW)
        .send()
        .await?;
    anyhow::ensure!(
        deployed.status().is_success(),
        "deploy: {}",
        deployed.text().await?
    );
    let mut ids = Vec::new();
    for n in 0..EXECUTIONS {
        let created: Value = http
            .post(format!("{api}/executions/tests.restart/steps"))
            .json(&serde_json::json!({"n": n.to_string()}))
            .send()
            .await?
            .json()
            .await?;
        ids.push(created["id"].as_str().expect("execution id").to_owned());
    }
    // Crash while tasks run on the workers and steps are in flight.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before: Value = http
        .get(format!(
            "{api}/executions/search?namespace=tests.restart&state=SUCCESS&size=100"
        ))
        .send()
        .await?
        .json()
        .await?;
    let done_before = before["results"].as_array().map_or(0, Vec::len);
    // Otherwise the crash would prove nothing.
    assert!(
        done_before < EXECUTIONS,
        "every execution ended before the crash: {before}"
    );
    postgres.crash_and_restart(Duration::from_secs(2)).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    for id in &ids {
        loop {
            let execution = get_json(&http, &format!("{api}/executions/{id}"), deadline).await;
            let state = execution["state"].as_str().unwrap_or_default().to_owned();
            if state == "SUCCESS" {
                let runs = execution["taskRuns"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let ids: Vec<&str> = runs.iter().filter_map(|r| r["taskId"].as_str()).collect();
                assert_eq!(ids, ["one", "two", "three"], "each task once: {execution}");
                break;
            }
            assert!(
                !matches!(state.as_str(), "FAILED" | "KILLED"),
                "{id} ended {state}: {execution}"
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} still {state} after 90 s: {execution}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
