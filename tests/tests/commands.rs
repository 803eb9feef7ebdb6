//! Kill, resume, restart and replay, through the executor, with real workers.

use baton_core::execution::State;
use baton_executor::executor::{kill, replay_execution, restart, resume};
use baton_tests::TestCluster;

const FLOW: &str = r#"
id: commands
namespace: tests.e2e
inputs:
  - id: marker
    type: STRING
    defaults: none
tasks:
  - id: first
    type: io.kestra.plugin.core.debug.Return
    format: "first"
  - id: gate
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - test -e "{{ inputs.marker }}" || { echo "no marker yet" >&2; exit 1; }
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: last
    type: io.kestra.plugin.core.debug.Return
    format: "last after {{ outputs.first.value }}"
"#;

const SLOW: &str = r#"
id: slow
namespace: tests.e2e
tasks:
  - id: nap
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 30
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: never
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_stops_the_running_task_and_ends_killed() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().start().await?;
    cluster.deploy(SLOW).await?;
    let id = cluster.execute("tests.e2e", "slow", &[]).await?;
    cluster
        .wait_for(&id, |e| {
            e.task_runs
                .iter()
                .any(|r| r.task_id == "nap" && r.state == State::Running)
        })
        .await?;
    kill(&cluster.executor, &id).await?;
    let execution = cluster.wait_until_ended(&id).await?;
    assert_eq!(execution.state, State::Killed);
    assert!(!execution.task_runs.iter().any(|r| r.task_id == "never"));
    let again = kill(&cluster.executor, &id).await.unwrap_err();
    assert!(
        again.to_string().contains("is KILLED; cannot kill it"),
        "{again}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reruns_the_failed_task_and_resume_finishes_the_pause() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().start().await?;
    cluster.deploy(FLOW).await?;
    let marker = cluster.dir.join("marker");
    let id = cluster
        .execute(
            "tests.e2e",
            "commands",
            &[("marker", marker.to_str().unwrap())],
        )
        .await?;
    let failed = cluster.wait_until_ended(&id).await?;
    assert_eq!(failed.state, State::Failed);
    let logs = cluster.logs(&id).await?;
    assert!(
        logs.iter().any(|l| l.entry.message == "no marker yet"),
        "the failed task's logs are kept"
    );

    std::fs::write(&marker, "")?;
    restart(&cluster.executor, &id).await?;
    let paused = cluster.wait_for(&id, |e| e.state == State::Paused).await?;
    let gate = paused
        .task_runs
        .iter()
        .find(|r| r.task_id == "gate")
        .unwrap();
    assert_eq!(
        (gate.state, gate.attempts.len()),
        (State::Success, 2),
        "same task run, second attempt"
    );
    let first_runs = paused
        .task_runs
        .iter()
        .filter(|r| r.task_id == "first")
        .count();
    assert_eq!(first_runs, 1, "what succeeded is not run again");

    assert!(
        restart(&cluster.executor, &id).await.is_err(),
        "a paused execution cannot be restarted"
    );
    resume(&cluster.executor, &id).await?;
    let done = cluster.wait_until_ended(&id).await?;
    assert_eq!(done.state, State::Success);
    let last = done.task_runs.iter().find(|r| r.task_id == "last").unwrap();
    assert_eq!(
        last.outputs.get("value"),
        Some(&serde_json::json!("last after first"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_creates_a_new_execution_that_keeps_earlier_results() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().start().await?;
    cluster.deploy(FLOW).await?;
    let marker = cluster.dir.join("marker");
    std::fs::write(&marker, "")?;
    let id = cluster
        .execute(
            "tests.e2e",
            "commands",
            &[("marker", marker.to_str().unwrap())],
        )
        .await?;
    cluster.wait_for(&id, |e| e.state == State::Paused).await?;
    resume(&cluster.executor, &id).await?;
    let original = cluster.wait_until_ended(&id).await?;
    assert_eq!(original.state, State::Success);

    let gate = original
        .task_runs
        .iter()
        .find(|r| r.task_id == "gate")
        .unwrap();
    let replayed = replay_execution(&cluster.executor, &id, &gate.id).await?;
    assert_ne!(replayed.id, id);
    assert_eq!(replayed.original_id.as_deref(), Some(id.as_str()));
    cluster
        .wait_for(&replayed.id, |e| e.state == State::Paused)
        .await?;
    resume(&cluster.executor, &replayed.id).await?;
    let done = cluster.wait_until_ended(&replayed.id).await?;
    assert_eq!(done.state, State::Success);
    let first = done
        .task_runs
        .iter()
        .find(|r| r.task_id == "first")
        .unwrap();
    let original_first = original
        .task_runs
        .iter()
        .find(|r| r.task_id == "first")
        .unwrap();
    assert_eq!(
        first.id, original_first.id,
        "first is carried over, not run again"
    );
    Ok(())
}
