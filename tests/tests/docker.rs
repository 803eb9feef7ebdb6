//! Script tasks in Docker containers end to end: executor, hub and workers over real gRPC, the
//! real Docker engine, and the local images of `deploy/base-images.sh`.

use std::collections::HashMap;
use std::time::Duration;

use baton_core::execution::State;
use baton_executor::executor::kill;
use baton_tests::{TOKEN, TestCluster};
use bollard::Docker;
use bollard::query_parameters::ListContainersOptions;

const PYTHON: &str = r#"
id: python_outputs
namespace: tests.docker
inputs:
  - id: region
    type: STRING
    defaults: eu
tasks:
  - id: stats
    type: io.kestra.plugin.scripts.python.Script
    containerImage: python:3.11-slim
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
    script: |
      import os
      from kestra import Kestra
      print("hello from python")
      Kestra.outputs({"region": "{{ inputs.region }}", "rows": 42, "in_container": os.path.exists("/.dockerenv")})
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.stats.vars.region }}-{{ outputs.stats.vars.rows }}"
"#;

const SLOW: &str = r#"
id: slow_container
namespace: tests.docker
tasks:
  - id: nap
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: debian:bookworm-slim
    commands:
      - echo napping
      - sleep 300
"#;

/// The containers the engine holds for an execution, stopped ones included.
async fn containers_of(execution_id: &str) -> anyhow::Result<Vec<String>> {
    let docker = Docker::connect_with_defaults()?.negotiate_version().await?;
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![format!("io.baton.execution-id={execution_id}")],
        )])),
        ..ListContainersOptions::default()
    };
    Ok(docker
        .list_containers(Some(options))
        .await?
        .into_iter()
        .filter_map(|c| c.id)
        .collect())
}

async fn wait_for_container(execution_id: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if !containers_of(execution_id).await?.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("no container appeared for execution {execution_id} within 15 s")
}

async fn wait_for_no_container(execution_id: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if containers_of(execution_id).await?.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the containers of execution {execution_id} were not removed within 15 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_script_in_a_container_sends_outputs_that_later_tasks_read() -> anyhow::Result<()>
{
    let cluster = TestCluster::builder().start().await?;
    cluster.deploy(PYTHON).await?;
    let id = cluster
        .execute("tests.docker", "python_outputs", &[("region", "us")])
        .await?;
    let execution = cluster.wait_until_ended(&id).await?;
    assert_eq!(execution.state, State::Success, "{execution:?}");
    let stats = execution
        .task_runs
        .iter()
        .find(|r| r.task_id == "stats")
        .expect("the stats task run");
    assert_eq!(
        stats.outputs["vars"],
        serde_json::json!({"region": "us", "rows": 42, "in_container": true})
    );
    let after = execution
        .task_runs
        .iter()
        .find(|r| r.task_id == "after")
        .expect("the after task run");
    assert_eq!(after.outputs["value"], "us-42");
    let logs = cluster.logs(&id).await?;
    assert!(
        logs.iter().any(|l| l.entry.message == "hello from python"),
        "stdout is in the execution's logs"
    );
    // A container that exited by itself is removed in the background, after its result.
    wait_for_no_container(&id).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_execution_removes_its_running_container() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().start().await?;
    cluster.deploy(SLOW).await?;
    let id = cluster
        .execute("tests.docker", "slow_container", &[])
        .await?;
    wait_for_container(&id).await?;
    kill(&cluster.executor, &id).await?;
    let execution = cluster.wait_until_ended(&id).await?;
    assert_eq!(execution.state, State::Killed);
    assert!(
        containers_of(&id).await?.is_empty(),
        "the container is gone"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_shutting_down_removes_the_containers_it_runs() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().workers(0).start().await?;
    let mut options = baton_worker::WorkerOptions::new(cluster.url.clone(), TOKEN);
    options.work_dir = cluster.dir.join("work");
    options.drain_grace = Duration::from_millis(500);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(baton_worker::run(options, async move {
        let _ = stopped.await;
    }));
    cluster.deploy(SLOW).await?;
    let id = cluster
        .execute("tests.docker", "slow_container", &[])
        .await?;
    wait_for_container(&id).await?;
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), worker).await???;
    assert!(
        containers_of(&id).await?.is_empty(),
        "the drained worker removed its container"
    );
    Ok(())
}
