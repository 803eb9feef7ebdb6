//! The roles as separate processes on one Postgres, as a deployment runs them: a webserver,
//! two executors, a worker per executor. One executor is killed with SIGKILL mid-run; the other
//! finishes every execution.

use std::time::Duration;

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
