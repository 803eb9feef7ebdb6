//! Flows run end to end: executor, hub and workers over real gRPC, on a real SQLite store.

use baton_core::execution::State;
use baton_tests::TestCluster;

const BRANCHING: &str = r#"
id: branching
namespace: tests.e2e
inputs:
  - id: mode
    type: SELECT
    values: [fast, slow, broken]
    defaults: fast
tasks:
  - id: decide
    type: io.kestra.plugin.core.flow.If
    condition: "{{ inputs.mode == 'fast' }}"
    then:
      - id: fast_path
        type: io.kestra.plugin.core.log.Log
        message: going fast
    else:
      - id: slow_path
        type: io.kestra.plugin.core.debug.Return
        format: slow
  - id: by_mode
    type: io.kestra.plugin.core.flow.Switch
    value: "{{ inputs.mode }}"
    cases:
      broken:
        - id: fail_on_purpose
          type: io.kestra.plugin.core.execution.Fail
          errorMessage: "mode was {{ inputs.mode }}"
    defaults:
      - id: fine
        type: io.kestra.plugin.core.log.Log
        message: mode is fine
  - id: fan_out
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: left
        type: io.kestra.plugin.core.debug.Return
        format: L
      - id: right
        type: io.kestra.plugin.core.debug.Return
        format: R
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b", "c"]
    concurrencyLimit: 2
    tasks:
      - id: per_item
        type: io.kestra.plugin.core.debug.Return
        format: "item {{ taskrun.value }}"
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "left was {{ outputs.left.value }}, b was {{ outputs.per_item['b'].value }}"
      - echo '::{"outputs":{"rows":42}}::'
errors:
  - id: on_error
    type: io.kestra.plugin.core.log.Log
    level: ERROR
    message: "execution {{ execution.id }} failed"
finally:
  - id: always
    type: io.kestra.plugin.core.log.Log
    message: done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branching_flow_runs_to_success_with_outputs_and_logs() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().workers(2).start().await?;
    cluster.deploy(BRANCHING).await?;
    let id = cluster.execute("tests.e2e", "branching", &[]).await?;
    let execution = cluster.wait_until_ended(&id).await?;
    assert_eq!(
        execution.state,
        State::Success,
        "{:#?}",
        execution.task_runs
    );
    let ran: Vec<&str> = execution
        .task_runs
        .iter()
        .map(|r| r.task_id.as_str())
        .collect();
    for expected in [
        "decide",
        "fast_path",
        "by_mode",
        "fine",
        "fan_out",
        "left",
        "right",
        "each",
        "per_item",
        "shell",
        "always",
    ] {
        assert!(ran.contains(&expected), "{expected} did not run: {ran:?}");
    }
    assert!(!ran.contains(&"slow_path") && !ran.contains(&"on_error"));
    let shell = execution
        .task_runs
        .iter()
        .find(|r| r.task_id == "shell")
        .unwrap();
    assert_eq!(
        shell.outputs.get("vars").and_then(|v| v.get("rows")),
        Some(&serde_json::json!(42))
    );
    let logs = cluster.logs(&id).await?;
    let messages: Vec<&str> = logs.iter().map(|l| l.entry.message.as_str()).collect();
    assert!(messages.contains(&"going fast"), "{messages:?}");
    assert!(
        messages.contains(&"left was L, b was item b"),
        "{messages:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_flow_runs_its_errors_and_finally_and_keeps_its_logs() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().start().await?;
    cluster.deploy(BRANCHING).await?;
    let id = cluster
        .execute("tests.e2e", "branching", &[("mode", "broken")])
        .await?;
    let execution = cluster.wait_until_ended(&id).await?;
    assert_eq!(execution.state, State::Failed);
    let state_of = |task: &str| {
        execution
            .task_runs
            .iter()
            .find(|r| r.task_id == task)
            .map(|r| r.state)
    };
    assert_eq!(state_of("slow_path"), Some(State::Success));
    assert_eq!(state_of("fail_on_purpose"), Some(State::Failed));
    assert_eq!(state_of("fan_out"), None, "nothing runs after the failure");
    assert_eq!(state_of("on_error"), Some(State::Success));
    assert_eq!(state_of("always"), Some(State::Success));
    let logs = cluster.logs(&id).await?;
    assert!(
        logs.iter()
            .any(|l| l.entry.message == format!("execution {id} failed"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_create_no_execution() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().workers(0).start().await?;
    cluster.deploy(BRANCHING).await?;
    let error = cluster
        .execute("tests.e2e", "branching", &[("mode", "sideways")])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("input 'mode'"), "{error}");
    let page = cluster
        .store
        .list_executions(&Default::default(), None, 10)
        .await?;
    assert!(page.items.is_empty());
    Ok(())
}

/// A task run that ends at once reaches the engine in one step with its start: its history
/// still says it ran, and its attempt carries the worker, the dispatch and the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_task_run_records_its_dispatch_start_and_end_in_one_step() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().postgres().start().await?;
    cluster
        .deploy(
            "id: quick\nnamespace: tests.e2e\ntasks:\n  - id: a\n    type: log\n    message: one\n  - id: b\n    type: log\n    message: two\n",
        )
        .await?;
    let id = cluster.execute("tests.e2e", "quick", &[]).await?;
    let execution = cluster.wait_until_ended(&id).await?;
    assert_eq!(execution.state, State::Success);
    for run in &execution.task_runs {
        let states: Vec<State> = run.history.iter().map(|change| change.state).collect();
        assert_eq!(
            states,
            [State::Created, State::Running, State::Success],
            "{}",
            run.task_id
        );
        let attempt = &run.attempts[0];
        let dispatched = attempt.dispatched_at.expect("a dispatch time");
        let started = attempt.started_at.expect("a start time");
        assert!(
            attempt.created_at <= dispatched && dispatched <= started,
            "created {} dispatched {dispatched} started {started}",
            attempt.created_at
        );
        assert!(attempt.worker_id.is_some(), "{}", run.task_id);
    }
    let logs: Vec<String> = cluster
        .logs(&id)
        .await?
        .into_iter()
        .map(|l| l.entry.message)
        .collect();
    assert_eq!(logs, ["one", "two"]);
    Ok(())
}
