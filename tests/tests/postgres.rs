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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_executions_race_across_two_executors_and_three_workers() -> anyhow::Result<()>
{
    let cluster = TestCluster::builder()
        .postgres()
        .executors(2)
        .workers(1)
        .slots(8)
        .start()
        .await?;
    cluster.start_worker_on(0, 8).await;
    cluster.deploy(FLOW).await?;
    // Created concurrently from both nodes, so the executors race on the queue from the start.
    let mut creations = tokio::task::JoinSet::new();
    for n in 0..200 {
        let executor = cluster.nodes[n % 2].executor.clone();
        creations.spawn(async move {
            let request = baton_executor::executor::NewExecution {
                namespace: "tests.pg".into(),
                flow_id: "shared".into(),
                inputs: [(
                    "n".to_owned(),
                    baton_core::inputs::RawInput::Text(n.to_string()),
                )]
                .into_iter()
                .collect(),
                ..Default::default()
            };
            baton_executor::executor::create_execution(&executor, request)
                .await
                .map(|e| (n, e.id))
        });
    }
    let mut ids = Vec::new();
    while let Some(created) = creations.join_next().await {
        ids.push(created??);
    }
    assert_eq!(ids.len(), 200);
    let mut task_runs = 0;
    for (n, id) in ids {
        let execution = cluster.wait_until_ended(&id).await?;
        assert_eq!(
            execution.state,
            State::Success,
            "{n}: {:#?}",
            execution.task_runs
        );
        // No lost and no duplicated task runs: each task of the flow ran once per value, and
        // each runnable one took exactly one attempt.
        let mut seen = std::collections::HashSet::new();
        for run in &execution.task_runs {
            assert!(
                seen.insert((run.task_id.clone(), run.value.clone())),
                "{n}: {} twice",
                run.task_id
            );
            let runnable = !matches!(run.task_id.as_str(), "fan" | "each");
            assert_eq!(
                run.attempts.len(),
                usize::from(runnable),
                "{n}: {} attempts of {}",
                run.attempts.len(),
                run.task_id
            );
        }
        assert_eq!(execution.task_runs.len(), 8);
        task_runs += execution.task_runs.len();
    }
    assert_eq!(task_runs, 1600);
    assert_eq!(cluster.store.queue_len("executions").await?, 0);
    assert_eq!(cluster.store.queue_len("dispatch").await?, 0);
    Ok(())
}
