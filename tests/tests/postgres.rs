//! Several executors on one Postgres share the work: every execution ends, every task run runs
//! once, and no execution is stepped by two executors at the same time.

use baton_core::execution::State;
use baton_tests::TestCluster;

const FLOW: &str = r#"
id: shared
namespace: tests.pg
inputs:
  - id: n
    type: INT
tasks:
  - id: fan
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: a
        type: io.kestra.plugin.core.debug.Return
        format: "a{{ inputs.n }}"
      - id: b
        type: io.kestra.plugin.core.debug.Return
        format: "b{{ inputs.n }}"
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2, 3]
    concurrencyLimit: 0
    tasks:
      - id: item
        type: io.kestra.plugin.core.log.Log
        message: "{{ taskrun.value }}"
  - id: join
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.a.value }}+{{ outputs.b.value }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executors_on_one_postgres_run_each_task_run_once() -> anyhow::Result<()> {
    let cluster = TestCluster::builder()
        .postgres()
        .executors(2)
        .workers(1)
        .start()
        .await?;
    cluster.deploy(FLOW).await?;
    let mut ids = Vec::new();
    for n in 0..20 {
        // Created through the first node; either executor may claim and step it afterwards.
        let id = cluster
            .execute("tests.pg", "shared", &[("n", &n.to_string())])
            .await?;
        ids.push((n, id));
    }
    for (n, id) in ids {
        let execution = cluster.wait_until_ended(&id).await?;
        assert_eq!(
            execution.state,
            State::Success,
            "{:#?}",
            execution.task_runs
        );
        assert_eq!(
            execution.task_runs.len(),
            8,
            "fan, a, b, each, 3 items, join"
        );
        for run in &execution.task_runs {
            let runnable = !matches!(run.task_id.as_str(), "fan" | "each");
            let expected = usize::from(runnable);
            assert_eq!(
                run.attempts.len(),
                expected,
                "{} ran {} times",
                run.task_id,
                run.attempts.len()
            );
        }
        let join = execution
            .task_runs
            .iter()
            .find(|r| r.task_id == "join")
            .unwrap();
        assert_eq!(
            join.outputs.get("value"),
            Some(&serde_json::json!(format!("a{n}+b{n}")))
        );
    }
    assert_eq!(
        cluster.store.queue_len("executions").await?,
        0,
        "consumed messages are deleted"
    );
    assert_eq!(cluster.store.queue_len("dispatch").await?, 0);
    Ok(())
}
