//! The Docker runner against the real engine (the socket or `DOCKER_HOST`), with the local
//! images `deploy/base-images.sh` builds: `debian:bookworm-slim` and `python:3.11-slim`.

use std::sync::Arc;
use std::time::Duration;

use baton_core::flow::Task;
use baton_core::flow::task::LogLevel;
use baton_core::parse::FlowParser;
use baton_core::template::{RenderLimits, TemplateEngine, TemplateHost};
use bollard::query_parameters::ListContainersOptions;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::{LogSink, RunContext, TaskLog, TaskOutcome, TaskState, run_task};

struct NoHost;

impl TemplateHost for NoHost {
    fn secret(&self, _: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
    fn kv(&self, _: &str, _: &str) -> Result<Option<serde_json::Value>, String> {
        Ok(None)
    }
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("no file {path}"))
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

/// One task of a one-task flow, run as a worker runs it.
struct Harness {
    engine: Arc<DockerEngine>,
    work_root: tempfile::TempDir,
    task_run_id: String,
}

impl Harness {
    fn new() -> Self {
        let task_run_id = format!("tr-{}", uuid::Uuid::now_v7().simple());
        Harness {
            engine: Arc::new(DockerEngine::new(
                DockerSettings::default(),
                Owner::this_process(format!("test-worker-{task_run_id}")),
            )),
            work_root: tempfile::tempdir().expect("a temporary directory"),
            task_run_id,
        }
    }

    fn task(yaml: &str) -> Task {
        let source = format!("id: docker\nnamespace: tests.docker\ntasks:\n{yaml}");
        let parsed = FlowParser::default().parse(&source);
        let errors: Vec<String> = parsed
            .errors()
            .map(|d| d.display_in("flow").to_string())
            .collect();
        let flow = parsed
            .flow
            .unwrap_or_else(|| panic!("invalid flow: {errors:?}"));
        flow.tasks[0].clone()
    }

    async fn run(&self, yaml: &str, cancel: &CancellationToken) -> (TaskOutcome, Vec<TaskLog>) {
        let task = Self::task(yaml);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let run = RunContext {
            engine: Arc::new(TemplateEngine::new(RenderLimits::default())),
            host: Arc::new(NoHost),
            context: serde_json::json!({
                "flow": {"id": "docker", "namespace": "tests.docker"},
                "execution": {"id": "exec-1"},
                "task": {"id": task.id},
                "taskrun": {"id": self.task_run_id},
            }),
            logs: LogSink::new(tx),
            work_root: self.work_root.path().to_path_buf(),
            docker: Arc::clone(&self.engine),
            storage: None,
            kv: Arc::new(crate::kv::NoKv),
            duckdb: "duckdb".into(),
        };
        let outcome = run_task(&task, &run, cancel).await;
        drop(run);
        let mut logs = Vec::new();
        while let Some(log) = rx.recv().await {
            logs.push(log);
        }
        (outcome, logs)
    }

    /// The containers labelled with this harness's task run, stopped ones included, once the
    /// removals running in the background are done.
    async fn containers(&self) -> Vec<String> {
        self.engine.removals_finished().await;
        let client = self.engine.client(None).await.expect(ENGINE_NEEDED);
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![format!("{LABEL_TASK_RUN}={}", self.task_run_id)],
            )])),
            ..ListContainersOptions::default()
        };
        client
            .list_containers(Some(options))
            .await
            .expect(ENGINE_NEEDED)
            .into_iter()
            .filter_map(|c| c.id)
            .collect()
    }
}

const ENGINE_NEEDED: &str = "these tests need a Docker engine (the socket or DOCKER_HOST) with \
                             the images of deploy/base-images.sh";

fn messages(logs: &[TaskLog], level: LogLevel) -> Vec<&str> {
    logs.iter()
        .filter(|l| l.level == level)
        .map(|l| l.message.as_str())
        .collect()
}

#[tokio::test]
async fn a_shell_task_runs_in_debian_with_its_input_file_and_labels() {
    let harness = Harness::new();
    let (outcome, logs) = harness
        .run(
            r#"  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: debian:bookworm-slim
    inputFiles:
      data/in.txt: "hello from the host\n"
    env:
      GREETING: hi
    commands:
      - cat data/in.txt
      - echo "$GREETING in $(pwd) = $WORKING_DIR = {{ workingDir }}"
      - test -f /.dockerenv && echo in-a-container
      - . /etc/os-release && echo "os $VERSION_CODENAME"
      - echo to-stderr >&2
      - echo '::{"outputs":{"rows":3}}::'
"#,
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(outcome.state, TaskState::Success, "{outcome:?} {logs:?}");
    let info = messages(&logs, LogLevel::Info);
    assert_eq!(info[0], "hello from the host");
    let wd = info[1].rsplit(" = ").next().unwrap();
    assert!(wd.starts_with(&harness.work_root.path().display().to_string()));
    assert_eq!(info[1], format!("hi in {wd} = {wd} = {wd}"));
    assert_eq!(info[2..4], ["in-a-container", "os bookworm"]);
    assert_eq!(messages(&logs, LogLevel::Error), ["to-stderr"]);
    assert_eq!(outcome.outputs["vars"]["rows"], 3);
    assert_eq!(outcome.outputs["exitCode"], 0);
    assert_eq!(outcome.outputs["stdOutLineCount"], 5);
    assert_eq!(outcome.outputs["stdErrLineCount"], 1);
    assert!(
        harness.containers().await.is_empty(),
        "the container is removed"
    );
}

#[tokio::test]
async fn output_files_are_copied_back_into_the_host_working_directory() {
    let harness = Harness::new();
    let client = harness.engine.client(None).await.expect(ENGINE_NEEDED);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "a,b\n1,2\n").unwrap();
    let spec = spec::build(
        spec::Request {
            runner: &Default::default(),
            image: "debian:bookworm-slim".into(),
            command: vec![
                "/bin/sh".into(),
                "-c".into(),
                "mkdir -p out && tr , ';' < in.csv > out/result.csv && ln -s /etc/passwd out/link"
                    .into(),
            ],
            env: vec![],
            dir: dir.path(),
            labels: harness.engine.labels(&serde_json::json!({
                "taskrun": {"id": harness.task_run_id},
            })),
        },
        harness.engine.settings(),
    )
    .unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let exited = run(
        &harness.engine,
        Container {
            spec,
            dir: dir.path(),
            download: true,
        },
        &LogSink::new(tx),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    drop(client);
    assert_eq!(exited.finished.exit_code, Some(0));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/result.csv")).unwrap(),
        "a;b\n1;2\n"
    );
    assert!(std::fs::symlink_metadata(dir.path().join("out/link")).is_err());
    assert!(harness.containers().await.is_empty());
}

#[tokio::test]
async fn a_failing_command_fails_the_task_with_its_exit_code_and_keeps_its_logs() {
    let harness = Harness::new();
    let (outcome, logs) = harness
        .run(
            r#"  - id: fails
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
      pullPolicy: NEVER
    containerImage: debian:bookworm-slim
    commands:
      - echo before
      - echo '::{"outputs":{"partial":true}}::'
      - exit 3
"#,
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(outcome.state, TaskState::Failed);
    assert_eq!(
        outcome.error.as_deref(),
        Some("command failed with exit code 3")
    );
    assert_eq!(outcome.outputs["exitCode"], 3);
    assert_eq!(outcome.outputs["vars"]["partial"], true);
    assert_eq!(messages(&logs, LogLevel::Info), ["before"]);
    assert!(harness.containers().await.is_empty());
}

#[tokio::test]
async fn a_missing_image_is_a_clear_error_naming_it_for_never_and_if_not_present() {
    let harness = Harness::new();
    let image = format!("baton-test-absent-{}:1", harness.task_run_id);
    for (policy, expected) in [
        (
            "NEVER",
            format!("image '{image}' is not on the Docker host and pullPolicy is NEVER"),
        ),
        (
            "IF_NOT_PRESENT",
            format!("image '{image}' is not on the Docker host and cannot be pulled: "),
        ),
    ] {
        let (outcome, _) = harness
            .run(
                &format!(
                    "  - id: absent\n    type: io.kestra.plugin.scripts.shell.Commands\n    \
                     containerImage: {image}\n    taskRunner:\n      type: \
                     io.kestra.plugin.scripts.runner.docker.Docker\n      pullPolicy: {policy}\n    \
                     commands: [\"true\"]\n"
                ),
                &CancellationToken::new(),
            )
            .await;
        assert_eq!(outcome.state, TaskState::Failed);
        let error = outcome.error.unwrap();
        assert!(error.starts_with(&expected), "{policy}: {error}");
    }
    assert!(harness.containers().await.is_empty());
}

#[tokio::test]
async fn going_over_the_memory_limit_is_an_out_of_memory_error() {
    let harness = Harness::new();
    let (outcome, _) = harness
        .run(
            r#"  - id: hungry
    type: io.kestra.plugin.scripts.python.Commands
    containerImage: python:3.11-slim
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
      memory:
        memory: 32MB
        memorySwap: 32MB
    commands:
      - python -c "x = bytearray(256 * 1024 * 1024); print('survived')"
"#,
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(outcome.state, TaskState::Failed);
    let error = outcome.error.unwrap();
    assert!(
        error.starts_with("the container ran out of memory"),
        "{error}"
    );
    assert_eq!(outcome.outputs["exitCode"], 137);
    assert!(harness.containers().await.is_empty());
}

#[tokio::test]
async fn a_kill_or_a_timeout_stops_and_removes_the_container() {
    let harness = Harness::new();
    let cancel = CancellationToken::new();
    let task = r#"  - id: long
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: debian:bookworm-slim
    commands:
      - echo started
      - sleep 300
"#;
    let running = harness.run(task, &cancel);
    tokio::pin!(running);
    // Kill once the container exists. Bounded, so a hang fails the test instead of the suite.
    let killing = async {
        loop {
            tokio::select! {
                (outcome, _) = &mut running => break outcome,
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if !harness.containers().await.is_empty() {
                        cancel.cancel();
                    }
                }
            }
        }
    };
    let outcome = tokio::time::timeout(Duration::from_secs(120), killing)
        .await
        .expect("the killed run did not end within 120 s");
    assert_eq!(outcome.state, TaskState::Killed);
    assert!(harness.containers().await.is_empty(), "killed: removed");

    let (yaml, never) = (
        format!("{task}    timeout: PT2S\n"),
        CancellationToken::new(),
    );
    let timing_out = harness.run(&yaml, &never);
    let (outcome, logs) = tokio::time::timeout(Duration::from_secs(120), timing_out)
        .await
        .expect("the timed-out run did not end within 120 s");
    assert_eq!(outcome.state, TaskState::Failed);
    assert_eq!(outcome.error.as_deref(), Some("timed out after PT2S"));
    assert_eq!(messages(&logs, LogLevel::Info), ["started"]);
    assert!(harness.containers().await.is_empty(), "timed out: removed");
}

#[tokio::test]
async fn python_outputs_dependencies_and_the_kestra_module_work_in_the_image() {
    let harness = Harness::new();
    // The dependency comes from a local index (a --find-links folder) that beforeCommands fill
    // with a wheel built on the spot: no network.
    let (outcome, logs) = harness
        .run(
            r#"  - id: py
    type: io.kestra.plugin.scripts.python.Script
    containerImage: python:3.11-slim
    inputFiles:
      helper.py: "VALUE = 40"
      make_wheel.py: |
        import os, zipfile
        os.makedirs("wheels", exist_ok=True)
        info = "tinypkg-1.0.dist-info/"
        with zipfile.ZipFile("wheels/tinypkg-1.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr("tinypkg.py", "ONE = 1\n")
            wheel.writestr(info + "METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
            wheel.writestr(info + "WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
            wheel.writestr(info + "RECORD", "")
    beforeCommands:
      - python make_wheel.py
    dependencies:
      - --no-index
      - --find-links={{ workingDir }}/wheels
      - tinypkg
    script: |
      import os
      from kestra import Kestra
      import helper, tinypkg
      Kestra.logger().warning("careful")
      Kestra.counter("rows", 2)
      Kestra.outputs({
          "answer": helper.VALUE + tinypkg.ONE + 1,
          "from": os.path.dirname(tinypkg.__file__).rsplit("/", 1)[-1],
          "in_container": os.path.exists("/.dockerenv"),
      })
"#,
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(outcome.state, TaskState::Success, "{outcome:?} {logs:?}");
    assert_eq!(outcome.outputs["vars"]["answer"], 42);
    assert_eq!(outcome.outputs["vars"]["from"], "python-packages");
    assert_eq!(outcome.outputs["vars"]["in_container"], true);
    assert_eq!(outcome.outputs["metrics"][0]["name"], "rows");
    assert_eq!(messages(&logs, LogLevel::Warn), ["careful"]);
    assert!(harness.containers().await.is_empty());
}

#[tokio::test]
async fn the_sweeper_removes_orphans_and_leaves_live_owners_alone() {
    let harness = Harness::new();
    let client = harness.engine.client(None).await.expect(ENGINE_NEEDED);
    // A pid that is certainly dead: a child that has exited and been reaped.
    let dead_pid = std::process::Command::new("true")
        .spawn()
        .and_then(|mut child| child.wait().map(|_| child.id()))
        .unwrap();
    let me = harness.engine.owner().clone();
    let make = |owner: Owner| {
        let client = client.clone();
        let task_run = harness.task_run_id.clone();
        async move {
            let mut labels = owner.labels();
            labels.insert(LABEL_TASK_RUN.to_owned(), task_run);
            let body = bollard::models::ContainerCreateBody {
                image: Some("debian:bookworm-slim".into()),
                cmd: Some(vec!["sleep".into(), "300".into()]),
                labels: Some(labels),
                ..Default::default()
            };
            client
                .create_container(
                    None::<bollard::query_parameters::CreateContainerOptions>,
                    body,
                )
                .await
                .expect(ENGINE_NEEDED)
                .id
        }
    };
    let orphan = make(Owner {
        worker_id: "gone".into(),
        pid: dead_pid,
        instance: "earlier".into(),
        ..me.clone()
    })
    .await;
    let live = make(me.clone()).await;
    let elsewhere = make(Owner {
        worker_id: "far".into(),
        host: "another-host".into(),
        pid: dead_pid,
        instance: "far".into(),
    })
    .await;
    let removed = sweep_orphans(&harness.engine).await.unwrap();
    assert!(removed >= 1);
    let left = harness.containers().await;
    assert!(!left.contains(&orphan), "the orphan is gone");
    assert!(left.contains(&live) && left.contains(&elsewhere));
    for id in [live, elsewhere] {
        let _ = client
            .remove_container(
                &id,
                Some(bollard::query_parameters::RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
    }
}
