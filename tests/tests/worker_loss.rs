//! A worker process killed with SIGKILL: its task run goes to another worker as attempt 2 once
//! the lease expires, and the execution still succeeds.

use std::time::Duration;

use baton_core::execution::State;
use baton_tests::process::BatonProcess;
use baton_tests::{TOKEN, TestCluster};

const FLOW: &str = r#"
id: survive
namespace: tests.e2e
tasks:
  - id: slow
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 2
      - echo "done on attempt {{ taskrun.attemptsCount }}"
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: after
"#;

fn spawn_worker(url: &str, id: &str) -> BatonProcess {
    BatonProcess::spawn(
        &[
            "server",
            "worker",
            "--executor",
            url,
            "--slots",
            "1",
            "--worker-id",
            id,
        ],
        &[("BATON_WORKER_TOKEN", TOKEN)],
        false,
    )
    .expect("start baton server worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_process_loses_its_task_run_to_another_worker() -> anyhow::Result<()> {
    let cluster = TestCluster::builder()
        .workers(0)
        .lease(Duration::from_secs(1))
        .start()
        .await?;
    cluster.deploy(FLOW).await?;
    let mut doomed = spawn_worker(&cluster.url, "doomed");
    for _ in 0..200 {
        if !cluster.hub.workers().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let id = cluster.execute("tests.e2e", "survive", &[]).await?;
    cluster
        .wait_for(&id, |e| {
            e.task_runs
                .iter()
                .any(|r| r.task_id == "slow" && r.state == State::Running)
        })
        .await?;
    doomed.kill_hard()?;

    cluster.start_worker(1).await;
    let execution = cluster.wait_until_ended(&id).await?;
    assert_eq!(execution.state, State::Success);
    let slow = execution
        .task_runs
        .iter()
        .find(|r| r.task_id == "slow")
        .unwrap();
    assert_eq!(slow.attempts.len(), 2, "{:#?}", slow.attempts);
    assert_eq!(slow.attempts[0].worker_id.as_deref(), Some("doomed"));
    assert_eq!(slow.attempts[0].state, State::Killed);
    assert_eq!(slow.attempts[1].state, State::Success);
    assert_ne!(slow.attempts[1].worker_id.as_deref(), Some("doomed"));
    let logs = cluster.logs(&id).await?;
    assert!(
        logs.iter().any(|l| l.entry.message == "done on attempt 1"),
        "attemptsCount is 0-based like Kestra's"
    );
    Ok(())
}
