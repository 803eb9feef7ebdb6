//! Kill, resume, restart and replay over the API.

use super::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_stops_a_running_shell_task_and_a_second_kill_conflicts() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(SLEEPY).await?;
    let id = api.execute("sleepy", json!({})).await?;
    api.wait_for(&id, |state| state == "RUNNING").await?;
    // Let the worker start the process, so the kill goes all the way to it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, execution) = api.get(&format!("/executions/{id}")).await?;
        if execution["taskRuns"][0]["state"] == "RUNNING" || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed_at = Instant::now();
    let response = api
        .http
        .delete(api.url(&format!("/executions/{id}/kill")))
        .send()
        .await?;
    expect(response, StatusCode::ACCEPTED).await?;
    let ended = api.wait_until_ended(&id).await?;
    assert_eq!(ended["state"], "KILLED", "{ended}");
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed_at.elapsed()
    );

    let response = api
        .http
        .post(api.url(&format!("/executions/{id}/kill")))
        .send()
        .await?;
    let body = expect(response, StatusCode::CONFLICT).await?;
    assert!(
        body["message"].as_str().unwrap().contains("KILLED"),
        "{body}"
    );
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_continues_a_paused_execution_to_success() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(PAUSED).await?;
    let id = api.execute("paused", json!({})).await?;
    api.wait_for(&id, |state| state == "PAUSED").await?;
    let response = api
        .http
        .post(api.url(&format!("/executions/{id}/resume")))
        .send()
        .await?;
    expect(response, StatusCode::ACCEPTED).await?;
    let ended = api.wait_until_ended(&id).await?;
    assert_eq!(ended["state"], "SUCCESS", "{ended}");
    let response = api
        .http
        .post(api.url(&format!("/executions/{id}/resume")))
        .send()
        .await?;
    let body = expect(response, StatusCode::CONFLICT).await?;
    assert!(
        body["message"].as_str().unwrap().contains("not PAUSED"),
        "{body}"
    );
    api.stop().await
}

const FLAKY: &str = r#"id: flaky
namespace: tests.api
inputs:
  - id: marker
    type: STRING
tasks:
  - id: first
    type: io.kestra.plugin.core.debug.Return
    format: first
  - id: gate
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - test -e "{{ inputs.marker }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_and_replay_run_an_execution_again() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(FLAKY).await?;
    let marker = std::env::temp_dir().join(format!("baton-api-marker-{}", uuid::Uuid::now_v7()));
    let id = api
        .execute("flaky", json!({"marker": marker.to_str().unwrap()}))
        .await?;
    assert_eq!(api.wait_until_ended(&id).await?["state"], "FAILED");

    std::fs::write(&marker, "")?;
    let restart = api
        .http
        .post(api.url(&format!("/executions/{id}/restart")))
        .send()
        .await?;
    expect(restart, StatusCode::ACCEPTED).await?;
    // The answer comes before the executor has applied the restart: the execution may still
    // read FAILED, so wait for the state the restart leads to.
    let restarted = api.wait_for(&id, |state| state == "SUCCESS").await?;
    assert_eq!(restarted["state"], "SUCCESS", "{restarted}");
    let again = api
        .http
        .post(api.url(&format!("/executions/{id}/restart")))
        .send()
        .await?;
    expect(again, StatusCode::CONFLICT).await?;

    let gate = restarted["taskRuns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["taskId"] == "gate")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing = api
        .http
        .post(api.url(&format!("/executions/{id}/replay")))
        .send()
        .await?;
    expect(missing, StatusCode::BAD_REQUEST).await?;
    let replay = api
        .http
        .post(api.url(&format!("/executions/{id}/replay?taskRunId={gate}")))
        .send()
        .await?;
    let replayed = expect(replay, StatusCode::OK).await?;
    let new_id = replayed["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id);
    assert_eq!(replayed["originalId"], id.as_str());
    assert_eq!(api.wait_until_ended(&new_id).await?["state"], "SUCCESS");
    std::fs::remove_file(&marker).ok();
    api.stop().await
}
