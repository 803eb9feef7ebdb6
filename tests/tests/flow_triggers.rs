//! Flow triggers end to end: an execution that ends starts the flows whose trigger conditions
//! hold, with its outputs as `trigger.outputs`, exactly once per upstream state change, also
//! with two executors racing on one Postgres.

use std::collections::HashMap;
use std::time::Duration;

use baton_core::execution::{Execution, State};
use baton_store::ExecutionFilter;
use baton_tests::TestCluster;
use serde_json::json;

const NS: &str = "tests.chain";

const EXTRACT: &str = r#"
id: extract
namespace: tests.chain
inputs:
  - id: day
    type: STRING
  - id: fail
    type: BOOLEAN
    defaults: false
tasks:
  - id: pick
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.day }}"
  - id: maybe_fail
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ inputs.fail }}"
outputs:
  - id: date
    type: STRING
    value: "{{ outputs.pick.value }}"
"#;

const TRANSFORM: &str = r#"
id: transform
namespace: tests.chain
inputs:
  - id: date
    type: STRING
tasks:
  - id: use
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.date }} after {{ trigger.flowId }} {{ trigger.executionId }} ({{ trigger.state }})"
outputs:
  - id: summary
    type: STRING
    value: "{{ outputs.use.value }}"
triggers:
  - id: after_extract
    type: io.kestra.plugin.core.trigger.Flow
    inputs:
      date: "{{ trigger.outputs.date }}"
    labels:
      upstream: "{{ trigger.executionId }}"
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: tests.chain
        flowId: extract
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [SUCCESS]
"#;

/// The third link: Kestra 1.x `preconditions` instead of `conditions`.
const PUBLISH: &str = r#"
id: publish
namespace: tests.chain
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.outputs.summary }}"
triggers:
  - id: after_transform
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: transformed
      flows:
        - namespace: tests.chain
          flowId: transform
          states: [SUCCESS]
"#;

/// Only failures of anything in the namespace.
const ALERT: &str = r#"
id: alert
namespace: tests.chain
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.namespace }}.{{ trigger.flowId }} {{ trigger.state }}"
triggers:
  - id: on_failure
    type: io.kestra.core.models.triggers.types.Flow
    states: [FAILED]
    conditions:
      - type: io.kestra.core.models.conditions.types.ExecutionNamespaceCondition
        namespace: tests
        prefix: true
"#;

async fn executions_of(cluster: &TestCluster, flow: &str) -> anyhow::Result<Vec<Execution>> {
    let filter = ExecutionFilter {
        namespace: Some(NS.into()),
        flow_id: Some(flow.into()),
        ..ExecutionFilter::default()
    };
    let page = cluster.store.list_executions(&filter, None, 1000).await?;
    page.items
        .into_iter()
        .map(|row| Ok(serde_json::from_value(row.document)?))
        .collect()
}

/// Waits until `flow` has `count` executions, all ended.
async fn ended(cluster: &TestCluster, flow: &str, count: usize) -> anyhow::Result<Vec<Execution>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found = executions_of(cluster, flow).await?;
        if found.len() >= count && found.iter().all(|e| e.state.is_terminal()) {
            return Ok(found);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{flow}: {} executions, {} ended, after 60 s (want {count})",
            found.len(),
            found.iter().filter(|e| e.state.is_terminal()).count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_three_flows_passes_outputs_along() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().workers(1).start().await?;
    for flow in [EXTRACT, TRANSFORM, PUBLISH, ALERT] {
        cluster.deploy(flow).await?;
    }
    let upstream = cluster
        .execute(NS, "extract", &[("day", "2025-02-27")])
        .await?;
    assert_eq!(
        cluster.wait_until_ended(&upstream).await?.state,
        State::Success
    );

    let transform = ended(&cluster, "transform", 1).await?.remove(0);
    assert_eq!(transform.state, State::Success, "{:?}", transform.error);
    assert_eq!(transform.inputs["date"], json!("2025-02-27"));
    assert_eq!(
        transform.trigger,
        Some(json!({
            "executionId": upstream,
            "namespace": NS,
            "flowId": "extract",
            "flowRevision": 1,
            "state": "SUCCESS",
            "outputs": {"date": "2025-02-27"},
        }))
    );
    assert_eq!(transform.labels.get("upstream"), Some(&upstream));
    let summary = format!("2025-02-27 after extract {upstream} (SUCCESS)");
    assert_eq!(transform.outputs["summary"], json!(summary));

    let publish = ended(&cluster, "publish", 1).await?.remove(0);
    assert_eq!(publish.state, State::Success);
    assert_eq!(
        publish.trigger.as_ref().map(|t| t["executionId"].clone()),
        Some(json!(transform.id))
    );
    let logs = cluster.logs(&publish.id).await?;
    assert!(
        logs.iter().any(|l| l.entry.message == summary),
        "{:?}",
        logs.iter().map(|l| &l.entry.message).collect::<Vec<_>>()
    );
    assert!(
        executions_of(&cluster, "alert").await?.is_empty(),
        "nothing failed, so no alert"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_fires_only_the_triggers_that_listen_for_it() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().workers(1).start().await?;
    for flow in [EXTRACT, TRANSFORM, ALERT] {
        cluster.deploy(flow).await?;
    }
    let upstream = cluster
        .execute(NS, "extract", &[("day", "x"), ("fail", "true")])
        .await?;
    assert_eq!(
        cluster.wait_until_ended(&upstream).await?.state,
        State::Failed
    );
    let alert = ended(&cluster, "alert", 1).await?;
    assert_eq!(alert.len(), 1);
    let logs = cluster.logs(&alert[0].id).await?;
    assert!(
        logs.iter()
            .any(|l| l.entry.message == "tests.chain.extract FAILED")
    );
    // Give a wrongly fired trigger time to show up before saying it did not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(executions_of(&cluster, "transform").await?.is_empty());
    assert_eq!(
        executions_of(&cluster, "alert").await?.len(),
        1,
        "the alert flow does not trigger itself"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_inputs_start_a_failed_execution_that_says_why() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().workers(1).start().await?;
    cluster.deploy(TRANSFORM).await?;
    // No flow outputs: `trigger.outputs.date` is undefined, so the input cannot be rendered.
    cluster
        .deploy(
            r#"
id: extract
namespace: tests.chain
tasks:
  - id: nothing
    type: io.kestra.plugin.core.log.Log
    message: no outputs
"#,
        )
        .await?;
    let upstream = cluster.execute(NS, "extract", &[]).await?;
    cluster.wait_until_ended(&upstream).await?;
    let transform = ended(&cluster, "transform", 1).await?.remove(0);
    assert_eq!(transform.state, State::Failed);
    let error = transform.error.unwrap_or_default();
    assert!(error.contains("after_extract"), "{error}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_upstream_execution_triggers_exactly_once_across_two_executors() -> anyhow::Result<()>
{
    let cluster = TestCluster::builder()
        .postgres()
        .executors(2)
        .workers(1)
        .start()
        .await?;
    for flow in [EXTRACT, TRANSFORM, PUBLISH] {
        cluster.deploy(flow).await?;
    }
    let mut upstream = Vec::new();
    for n in 0..20 {
        let day = format!("day-{n}");
        upstream.push(
            cluster
                .execute_on(n, NS, "extract", &[("day", &day)])
                .await?,
        );
    }
    let transforms = ended(&cluster, "transform", 20).await?;
    let publishes = ended(&cluster, "publish", 20).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(executions_of(&cluster, "transform").await?.len(), 20);
    assert_eq!(executions_of(&cluster, "publish").await?.len(), 20);
    let by_upstream: HashMap<String, String> = transforms
        .iter()
        .map(|t| {
            let trigger = t.trigger.clone().unwrap_or_default();
            (
                trigger["executionId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                t.inputs["date"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        by_upstream.len(),
        20,
        "one transform per upstream execution"
    );
    for id in &upstream {
        let day = by_upstream.get(id).expect("triggered");
        let execution = cluster.execution(id).await?;
        assert_eq!(execution.inputs["day"], json!(day));
    }
    assert!(publishes.iter().all(|p| p.state == State::Success));
    Ok(())
}

const SALES: &str = r#"
id: sales
namespace: tests.chain
tasks:
  - id: load
    type: io.kestra.plugin.core.debug.Return
    format: sales
"#;

const STOCK: &str = r#"
id: stock
namespace: tests.chain
tasks:
  - id: load
    type: io.kestra.plugin.core.debug.Return
    format: stock
"#;

/// Runs once both loads succeeded within the (default, daily) window.
const REPORT: &str = r#"
id: report
namespace: tests.chain
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "completed by {{ trigger.flowId }}"
triggers:
  - id: both_loaded
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: both
      flows:
        - namespace: tests.chain
          flowId: sales
          states: [SUCCESS]
        - namespace: tests.chain
          flowId: stock
          states: [SUCCESS]
"#;

async fn run(cluster: &TestCluster, node: usize, flow: &str) -> anyhow::Result<()> {
    let id = cluster.execute_on(node, NS, flow, &[]).await?;
    anyhow::ensure!(cluster.wait_until_ended(&id).await?.state == State::Success);
    Ok(())
}

/// How many `report` executions exist once a wrongly fired one has had time to show up.
async fn reports(cluster: &TestCluster) -> anyhow::Result<usize> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = executions_of(cluster, "report").await?;
    ended(cluster, "report", all.len()).await?;
    Ok(all.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preconditions_on_two_flows_wait_for_both_then_start_over() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().workers(1).start().await?;
    for flow in [SALES, STOCK, REPORT] {
        cluster.deploy(flow).await?;
    }
    run(&cluster, 0, "sales").await?;
    assert_eq!(reports(&cluster).await?, 0, "half of the preconditions");
    run(&cluster, 0, "sales").await?;
    assert_eq!(reports(&cluster).await?, 0, "the same half twice");
    run(&cluster, 0, "stock").await?;
    assert_eq!(reports(&cluster).await?, 1, "both met");
    let report = executions_of(&cluster, "report").await?.remove(0);
    assert_eq!(report.state, State::Success);
    assert_eq!(
        report.trigger.as_ref().map(|t| t["flowId"].clone()),
        Some(json!("stock")),
        "trigger.* is the execution that completed the window"
    );
    run(&cluster, 0, "stock").await?;
    assert_eq!(reports(&cluster).await?, 1, "the window started over");
    run(&cluster, 0, "sales").await?;
    assert_eq!(reports(&cluster).await?, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_completed_by_two_executors_at_once_fires_once() -> anyhow::Result<()> {
    let cluster = TestCluster::builder()
        .postgres()
        .executors(2)
        .workers(1)
        .start()
        .await?;
    for flow in [SALES, STOCK, REPORT] {
        cluster.deploy(flow).await?;
    }
    for round in 1..=5 {
        let (sales, stock) = tokio::join!(run(&cluster, 0, "sales"), run(&cluster, 1, "stock"));
        sales?;
        stock?;
        assert_eq!(reports(&cluster).await?, round, "one report per pair");
    }
    Ok(())
}
