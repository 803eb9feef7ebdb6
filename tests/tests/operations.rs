//! What operators see of real `baton` processes on Postgres: liveness and readiness endpoints
//! (a worker is ready only once an executor welcomed it), `/metrics` scraped from the executor
//! and the worker after executions ran, and JSON log lines carrying execution and task run ids.

use std::time::Duration;

use baton_tests::TOKEN;
use baton_tests::process::BatonProcess;
use serde_json::Value;

const FLOW: &str = r#"
id: ops
namespace: tests.operations
inputs:
  - id: fail
    type: BOOLEAN
tasks:
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo hello
  - id: maybe_fail
    type: io.kestra.plugin.core.flow.If
    condition: "{{ inputs.fail }}"
    then:
      - id: fail
        type: io.kestra.plugin.core.execution.Fail
        errorMessage: asked to fail
"#;

/// A port nothing listens on yet (the executor takes it later).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn get(http: &reqwest::Client, url: &str) -> anyhow::Result<(u16, String)> {
    let response = http.get(url).send().await?;
    Ok((response.status().as_u16(), response.text().await?))
}

/// Polls `url` until it answers `status`.
async fn wait_for_status(http: &reqwest::Client, url: &str, status: u16) -> anyhow::Result<()> {
    for _ in 0..300 {
        if get(http, url).await?.0 == status {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{url} did not answer {status} within 30 s")
}

/// The value of the sample `name` (with its labels, as printed) in a Prometheus text page.
fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_json_logs_of_real_processes() -> anyhow::Result<()> {
    let database_url = baton_store::testing::PgServer::get()
        .fresh_database_url()
        .await;
    let http = reqwest::Client::new();
    let executor_address = format!("127.0.0.1:{}", free_port()?);

    // The worker starts first: alive, but not ready without an executor.
    let worker = BatonProcess::spawn(
        &[
            "server",
            "worker",
            "--executor",
            &format!("http://{executor_address}"),
            "--slots",
            "2",
            "--worker-listen",
            "127.0.0.1:0",
        ],
        &[("BATON_WORKER_TOKEN", TOKEN), ("BATON_LOG_FORMAT", "json")],
        true,
    )?;
    let worker_url = worker.url.clone().expect("worker url");
    let (status, body) = get(&http, &format!("{worker_url}/health/live")).await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&http, &format!("{worker_url}/health/ready")).await?;
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body)?;
    assert_eq!(body["checks"]["executor"], "not connected to an executor");

    let executor = BatonProcess::spawn(
        &["server", "executor", "--listen", &executor_address],
        &[
            ("BATON_DATABASE_URL", &database_url),
            ("BATON_WORKER_TOKEN", TOKEN),
        ],
        true,
    )?;
    let executor_url = executor.url.clone().expect("executor url");
    let web = BatonProcess::spawn(
        &["server", "webserver", "--listen", "127.0.0.1:0"],
        &[("BATON_DATABASE_URL", &database_url)],
        true,
    )?;
    let api = format!("{}/api/v1", web.url.clone().expect("webserver url"));
    for url in [&executor_url, web.url.as_ref().expect("webserver url")] {
        let (status, body) = get(&http, &format!("{url}/health/ready")).await?;
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body)?["checks"]["store"],
            "UP"
        );
    }
    wait_for_status(&http, &format!("{worker_url}/health/ready"), 200).await?;

    let deployed = http
        .post(format!("{api}/flows"))
        .header("content-type", "application/x-yaml")
        .body(FLOW)
        .send()
        .await?;
    assert!(deployed.status().is_success(), "{}", deployed.text().await?);
    let mut ids = Vec::new();
    for fail in [false, true] {
        let created: Value = http
            .post(format!("{api}/executions/tests.operations/ops?wait=true"))
            .json(&serde_json::json!({"fail": fail}))
            .send()
            .await?
            .json()
            .await?;
        let expected = if fail { "FAILED" } else { "SUCCESS" };
        assert_eq!(created["state"], expected, "{created}");
        ids.push(created["id"].as_str().expect("id").to_owned());
    }

    let (status, page) = get(&http, &format!("{executor_url}/metrics")).await?;
    assert_eq!(status, 200);
    assert_eq!(
        sample(&page, r#"baton_executions_ended_total{state="SUCCESS"}"#),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, r#"baton_executions_ended_total{state="FAILED"}"#),
        Some(1.0),
        "{page}"
    );
    // Two shell runs and the If succeeded; the Fail task (on the worker) and its If failed.
    assert!(
        sample(&page, r#"baton_task_runs_ended_total{state="SUCCESS"}"#) >= Some(2.0),
        "{page}"
    );
    assert!(
        sample(&page, r#"baton_task_runs_ended_total{state="FAILED"}"#) >= Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, "baton_dispatch_latency_seconds_count"),
        Some(3.0),
        "{page}"
    );
    assert!(
        sample(&page, "baton_step_duration_seconds_count") >= Some(4.0),
        "{page}"
    );
    assert!(
        page.contains(r#"baton_step_duration_seconds_bucket{le="+Inf"}"#),
        "{page}"
    );
    for gauge in [
        r#"baton_queue_depth{queue="executions"}"#,
        r#"baton_queue_depth{queue="dispatch"}"#,
        r#"baton_db_pool_connections{state="used"}"#,
        r#"baton_db_pool_connections{state="idle"}"#,
    ] {
        assert!(sample(&page, gauge).is_some(), "{gauge} in {page}");
    }
    // The webserver created the executions.
    let (_, page) = get(
        &http,
        &format!("{}/metrics", web.url.as_ref().expect("url")),
    )
    .await?;
    assert_eq!(
        sample(&page, "baton_executions_created_total"),
        Some(2.0),
        "{page}"
    );

    let (status, page) = get(&http, &format!("{worker_url}/metrics")).await?;
    assert_eq!(status, 200);
    assert_eq!(sample(&page, "baton_worker_slots"), Some(2.0), "{page}");
    assert_eq!(
        sample(&page, "baton_worker_slots_busy"),
        Some(0.0),
        "{page}"
    );
    assert_eq!(sample(&page, "baton_worker_connected"), Some(1.0), "{page}");

    // JSON logs: one object per line; the attempt's line names its execution and task run.
    let lines = worker.stderr_lines();
    let ended: Vec<Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "task run attempt ended")
        .collect();
    // shell, shell and fail ran on the worker.
    assert_eq!(ended.len(), 3, "{lines:#?}");
    for line in &ended {
        let span = &line["span"];
        assert!(
            ids.iter().any(|id| span["execution_id"] == id.as_str()),
            "{line}"
        );
        assert!(
            span["task_id"] == "shell" || span["task_id"] == "fail",
            "{line}"
        );
        assert!(
            span["task_run_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
    }
    Ok(())
}
