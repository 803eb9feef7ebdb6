//! The repository's `docker-compose.yaml` end to end, as a user runs it: images built offline
//! from the binary cargo built, `up -d` with three workers, flows deployed and run through the
//! API (shell tasks on the workers, a Python script in a container started through the mounted
//! Docker socket, its output file read back through the webserver from the shared storage
//! volume), one worker killed mid-task, then `down` and `up -d` again keeping every execution.
//!
//! Skipped, saying why, when no Docker engine or compose tool is reachable.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use baton_tests::compose::{self, ComposeStack};
use serde_json::Value;

const FAN_OUT: &str = r#"
id: fan_out
namespace: tests.compose
inputs:
  - id: n
    type: INT
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b", "c", "d"]
    concurrencyLimit: 0
    tasks:
      - id: work
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands:
          - sleep 3
          - echo "{{ taskrun.value }} of {{ inputs.n }} on $(hostname)"
  - id: done
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.n }}"
"#;

const CONTAINER: &str = r#"
id: in_container
namespace: tests.compose
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    containerImage: python:3.11-slim
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
    outputFiles:
      - out.txt
    script: |
      from kestra import Kestra
      open("out.txt", "w").write("written in a container")
      Kestra.outputs({"rows": 42})
"#;

const EXECUTIONS: usize = 6;

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn deploy(&self, flow: &str) -> anyhow::Result<()> {
        baton_tests::rest::deploy_flow(&self.http, &format!("{}/api/v1", self.base), flow).await
    }

    async fn execute(&self, flow: &str, inputs: Value) -> anyhow::Result<String> {
        let created: Value = self
            .http
            .post(format!(
                "{}/api/v1/executions/tests.compose/{flow}",
                self.base
            ))
            .json(&inputs)
            .send()
            .await?
            .json()
            .await?;
        Ok(created["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no execution id in {created}"))?
            .to_owned())
    }

    async fn execution(&self, id: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}/api/v1/executions/{id}", self.base))
            .send()
            .await?
            .json()
            .await?)
    }

    /// The execution once it ended; an error naming its state if it did not within `limit`.
    async fn wait_ended(&self, id: &str, limit: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let execution = self.execution(id).await?;
            let state = execution["state"].as_str().unwrap_or_default();
            if matches!(state, "SUCCESS" | "WARNING" | "FAILED" | "KILLED") {
                return Ok(execution);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{id} still {state} after {limit:?}: {execution}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The workers (by id) that ran an attempt of `task_id` in `execution`.
fn workers_of(execution: &Value, task_id: &str) -> Vec<String> {
    task_runs(execution, task_id)
        .iter()
        .flat_map(|run| run["attempts"].as_array().cloned().unwrap_or_default())
        .filter_map(|attempt| attempt["workerId"].as_str().map(str::to_owned))
        .collect()
}

fn task_runs(execution: &Value, task_id: &str) -> Vec<Value> {
    execution["taskRuns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|run| run["taskId"] == task_id)
        .cloned()
        .collect()
}

/// Kills (SIGKILL) a worker container while it runs a `work` task run of one of `ids` (a task
/// run shows RUNNING only once the executor recorded its start, so the tasks sleep long enough
/// to be seen); returns the killed worker's id prefix (its container's host name).
async fn kill_a_busy_worker(
    api: &Api,
    stack: &ComposeStack,
    ids: &[String],
) -> anyhow::Result<String> {
    let containers = stack.containers("worker")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        for id in ids {
            let execution = api.execution(id).await?;
            let busy = task_runs(&execution, "work").into_iter().find_map(|run| {
                (run["state"] == "RUNNING")
                    .then(|| {
                        run["attempts"].as_array()?.last()?["workerId"]
                            .as_str()
                            .map(str::to_owned)
                    })
                    .flatten()
            });
            // A worker's id starts with its host name, which Docker sets to the container's
            // short id.
            if let Some(worker) = busy
                && let Some(container) = containers.iter().find(|c| worker.starts_with(&c[..12]))
            {
                let out = std::process::Command::new("docker")
                    .args(["kill", container])
                    .output()?;
                anyhow::ensure!(out.status.success(), "docker kill {container} failed");
                return Ok(container[..12].to_owned());
            }
        }
    }
    anyhow::bail!("no work task run was seen running on a worker within 60 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_stack_runs_flows_on_scaled_workers_and_keeps_history_across_restarts()
-> anyhow::Result<()> {
    if let Some(reason) = compose::unavailable() {
        eprintln!("SKIPPED the docker compose end-to-end test: {reason}");
        return Ok(());
    }
    let project = format!("baton-e2e-{}", std::process::id());
    let image = format!("baton:{project}");
    compose::build_images(&image)?;
    let stack = ComposeStack::new(
        &project,
        &[
            ("BATON_IMAGE", image.as_str()),
            ("BATON_PORT", "0"),
            ("BATON_WORKER_TOKEN", "compose-test-token"),
            // A killed worker's task runs go elsewhere after 3 s instead of 30.
            ("BATON_WORKER_LEASE", "3"),
            ("BATON_WORKER_DRAIN_GRACE", "5"),
        ],
    )?;
    let result = scenario(&stack).await;
    if result.is_err() {
        eprintln!("compose logs:\n{}", stack.logs());
    }
    drop(stack);
    let _ = std::process::Command::new("docker")
        .args(["image", "rm", &image])
        .output();
    result
}

async fn scenario(stack: &ComposeStack) -> anyhow::Result<()> {
    stack.run(&["up", "-d", "--scale", "worker=3"])?;
    stack.wait_healthy(Duration::from_secs(90))?;
    let api = Api {
        http: reqwest::Client::new(),
        base: stack.url("webserver", 8080)?,
    };
    api.deploy(FAN_OUT).await?;
    api.deploy(CONTAINER).await?;

    let mut ids = Vec::new();
    for n in 0..EXECUTIONS {
        ids.push(api.execute("fan_out", serde_json::json!({"n": n})).await?);
    }
    let killed = kill_a_busy_worker(&api, stack, &ids).await?;

    let mut workers = BTreeSet::new();
    for id in &ids {
        let execution = api.wait_ended(id, Duration::from_secs(90)).await?;
        assert_eq!(execution["state"], "SUCCESS", "{execution}");
        // One task run per ForEach value: the killed worker's runs were retried as new
        // attempts of the same task runs, never as extra task runs.
        let runs = task_runs(&execution, "work");
        assert_eq!(runs.len(), 4, "one task run per value: {execution}");
        for run in &runs {
            assert_eq!(run["state"], "SUCCESS", "{run}");
        }
        workers.extend(workers_of(&execution, "work"));
    }
    let hosts: BTreeSet<&str> = workers.iter().filter_map(|w| w.get(..12)).collect();
    assert!(
        hosts.len() >= 2,
        "task runs ran on more than one worker container: {workers:?}"
    );
    assert!(
        hosts.contains(killed.as_str()),
        "the killed worker had run a task: {workers:?}"
    );

    // A container task through the worker's Docker socket; its output file is read back through
    // the webserver, which shares the storage volume with the workers.
    let id = api.execute("in_container", serde_json::json!({})).await?;
    let execution = api.wait_ended(&id, Duration::from_secs(60)).await?;
    assert_eq!(execution["state"], "SUCCESS", "{execution}");
    let py = &task_runs(&execution, "py")[0];
    assert_eq!(py["outputs"]["vars"]["rows"], 42, "{py}");
    let uri = py["outputs"]["outputFiles"]["out.txt"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no output file: {py}"))?;
    let file = api
        .http
        .get(format!("{}/api/v1/executions/{id}/file", api.base))
        .query(&[("path", uri)])
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(file, "written in a container");
    ids.push(id);

    // Down (volumes kept) and up again: every execution is still there, and new ones run.
    let before: HashMap<String, Value> = collect(&api, &ids).await?;
    stack.run(&["down", "--timeout", "10"])?;
    stack.run(&["up", "-d", "--scale", "worker=2"])?;
    stack.wait_healthy(Duration::from_secs(90))?;
    let api = Api {
        base: stack.url("webserver", 8080)?,
        ..api
    };
    let after = collect(&api, &ids).await?;
    for id in &ids {
        assert_eq!(
            after[id]["state"], before[id]["state"],
            "{id} kept its state"
        );
        assert_eq!(
            after[id]["taskRuns"], before[id]["taskRuns"],
            "{id} kept its task runs"
        );
    }
    let id = api.execute("fan_out", serde_json::json!({"n": 99})).await?;
    let execution = api.wait_ended(&id, Duration::from_secs(60)).await?;
    assert_eq!(execution["state"], "SUCCESS", "{execution}");
    Ok(())
}

async fn collect(api: &Api, ids: &[String]) -> anyhow::Result<HashMap<String, Value>> {
    let mut executions = HashMap::new();
    for id in ids {
        executions.insert(id.clone(), api.execution(id).await?);
    }
    Ok(executions)
}
