//! Flow `concurrency` limits end to end: QUEUE, CANCEL and FAIL under bursts, kills and
//! restarts, on SQLite and on Postgres with two executors. Every check reads the executions
//! table: no two executions of a limited flow were running at the same time (their running
//! intervals, first RUNNING to end, never overlap beyond the limit), each reached the state
//! it should, and no slot is left behind.

use std::time::Duration;

use baton_core::execution::{Execution, State};
use baton_executor::executor::{self, NewExecution};
use baton_store::ExecutionFilter;
use baton_tests::TestCluster;
use chrono::{DateTime, Utc};

const NS: &str = "tests.concurrency";

/// A limited flow. `hold` parks an execution in a Pause (it keeps its slot until resumed),
/// `sleep` runs a shell command for that many seconds, `fail` fails it at the end.
fn flow(id: &str, limit: u32, behavior: &str) -> String {
    format!(
        r#"
id: {id}
namespace: {NS}
concurrency:
  limit: {limit}
  behavior: {behavior}
inputs:
  - id: hold
    type: BOOLEAN
    defaults: false
  - id: sleep
    type: INT
    defaults: 0
  - id: fail
    type: BOOLEAN
    defaults: false
tasks:
  - id: maybe_hold
    type: io.kestra.plugin.core.flow.If
    condition: "{{{{ inputs.hold }}}}"
    then:
      - id: wait
        type: io.kestra.plugin.core.flow.Pause
  - id: maybe_sleep
    type: io.kestra.plugin.core.flow.If
    condition: "{{{{ inputs.sleep > 0 }}}}"
    then:
      - id: sleep
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands:
          - sleep {{{{ inputs.sleep }}}}
  - id: work
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ execution.id }}}}"
  - id: maybe_fail
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{{{ inputs.fail }}}}"
    errorMessage: failing on purpose
"#
    )
}

async fn cluster(postgres: bool) -> anyhow::Result<TestCluster> {
    let builder = TestCluster::builder().workers(1).slots(8);
    if postgres {
        builder.postgres().executors(2).start().await
    } else {
        builder.start().await
    }
}

async fn start(
    cluster: &TestCluster,
    node: usize,
    flow: &str,
    inputs: &[(&str, &str)],
) -> anyhow::Result<String> {
    cluster.execute_on(node, NS, flow, inputs).await
}

async fn wait_state(cluster: &TestCluster, id: &str, state: State) -> anyhow::Result<Execution> {
    cluster.wait_for(id, |e| e.state == state).await
}

/// Every execution of `flow`, read from the executions table.
async fn executions(cluster: &TestCluster, flow: &str) -> anyhow::Result<Vec<Execution>> {
    let filter = ExecutionFilter {
        namespace: Some(NS.into()),
        flow_id: Some(flow.into()),
        ..ExecutionFilter::default()
    };
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = cluster.store.list_executions(&filter, after, 200).await?;
        for row in page.items {
            all.push(serde_json::from_value(row.document)?);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}

/// When each execution ran: from each RUNNING that follows a start (creation, QUEUED, a
/// restart) to the next QUEUED or end, or to now if it has not ended. A restarted execution
/// has several such intervals.
fn running_intervals(execution: &Execution) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut intervals = Vec::new();
    let mut started = None;
    for change in &execution.history {
        match change.state {
            State::Running if started.is_none() => started = Some(change.at),
            state if state == State::Queued || state.is_terminal() => {
                if let Some(start) = started.take() {
                    intervals.push((start, change.at));
                }
            }
            _ => {}
        }
    }
    if let Some(start) = started {
        intervals.push((start, DateTime::<Utc>::MAX_UTC));
    }
    intervals
}

/// The most executions that were running at one instant.
fn most_at_once(executions: &[Execution]) -> usize {
    let mut edges: Vec<(DateTime<Utc>, i32)> = executions
        .iter()
        .flat_map(running_intervals)
        .flat_map(|(start, end)| [(start, 1), (end, -1)])
        .collect();
    // An end and a start at the same instant do not overlap: ends first.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

async fn slots_left(cluster: &TestCluster, flow: &str) -> anyhow::Result<usize> {
    Ok(cluster.store.concurrency_slots(NS, flow).await?.len())
}

/// Waits for every execution to end, allowing `limit` seconds in all.
async fn wait_all_ended(
    cluster: &TestCluster,
    flow: &str,
    count: usize,
    limit: Duration,
) -> anyhow::Result<Vec<Execution>> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let all = executions(cluster, flow).await?;
        if all.len() == count && all.iter().all(|e| e.state.is_terminal()) {
            return Ok(all);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{} of {count} executions ended after {limit:?}",
            all.iter().filter(|e| e.state.is_terminal()).count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_hundred_runs_one_at_a_time_across_two_executors_even_with_kills()
-> anyhow::Result<()> {
    let cluster = cluster(true).await?;
    cluster.deploy(&flow("burst", 1, "QUEUE")).await?;
    // All created at once, half through each executor, so both race for the one slot.
    let mut creations = tokio::task::JoinSet::new();
    for n in 0..100 {
        let executor = cluster.nodes[n % 2].executor.clone();
        creations.spawn(async move {
            let request = NewExecution {
                namespace: NS.into(),
                flow_id: "burst".into(),
                ..NewExecution::default()
            };
            executor::create_execution(&executor, request)
                .await
                .map(|e| (n, e.id))
        });
    }
    let mut ids = Vec::new();
    while let Some(created) = creations.join_next().await {
        ids.push(created??);
    }
    // Kill every tenth while the burst is under way: queued ones, the running one, or one that
    // already ended (then the kill is refused).
    let mut killed = std::collections::HashSet::new();
    for (n, id) in &ids {
        if n % 10 == 0
            && executor::kill(&cluster.nodes[n % 2].executor, id)
                .await
                .is_ok()
        {
            killed.insert(id.clone());
        }
    }
    let all = wait_all_ended(&cluster, "burst", 100, Duration::from_secs(240)).await?;
    for execution in &all {
        let expected: &[State] = if killed.contains(&execution.id) {
            &[State::Killed, State::Success]
        } else {
            &[State::Success]
        };
        assert!(
            expected.contains(&execution.state),
            "{} ended {}: {:?}",
            execution.id,
            execution.state,
            execution.error
        );
    }
    assert_eq!(most_at_once(&all), 1, "never two running at once");
    let queued = all
        .iter()
        .filter(|e| e.history.iter().any(|c| c.state == State::Queued))
        .count();
    assert!(queued >= 10, "a burst waits in QUEUED ({queued} did)");
    assert!(
        all.iter().filter(|e| e.state == State::Killed).count() >= 1,
        "kills landed"
    );
    assert_eq!(slots_left(&cluster, "burst").await?, 0, "no slot leaked");
    assert_eq!(cluster.store.queue_len("executions").await?, 0);
    Ok(())
}

async fn refuses_extra_executions(postgres: bool, behavior: &str) -> anyhow::Result<()> {
    let cluster = cluster(postgres).await?;
    let flow_id = format!("refusing_{}", behavior.to_lowercase());
    cluster.deploy(&flow(&flow_id, 2, behavior)).await?;
    let holders = [
        start(&cluster, 0, &flow_id, &[("hold", "true")]).await?,
        start(&cluster, 1, &flow_id, &[("hold", "true")]).await?,
    ];
    for id in &holders {
        wait_state(&cluster, id, State::Paused).await?;
    }
    let mut burst = tokio::task::JoinSet::new();
    for n in 0..10 {
        let executor = cluster.nodes[n % cluster.nodes.len()].executor.clone();
        let flow_id = flow_id.clone();
        burst.spawn(async move {
            let request = NewExecution {
                namespace: NS.into(),
                flow_id,
                ..NewExecution::default()
            };
            executor::create_execution(&executor, request).await
        });
    }
    let expected = if behavior == "FAIL" {
        State::Failed
    } else {
        State::Cancelled
    };
    while let Some(created) = burst.join_next().await {
        let id = created??.id;
        let ended = cluster.wait_until_ended(&id).await?;
        assert_eq!(ended.state, expected, "{:?}", ended.error);
        let error = ended.error.unwrap_or_default();
        assert!(
            error.contains("concurrency limit") && error.contains(&flow_id),
            "{error}"
        );
        assert!(
            ended.task_runs.is_empty(),
            "a refused execution runs nothing"
        );
    }
    for id in &holders {
        executor::resume(&cluster.executor, id).await?;
        assert_eq!(cluster.wait_until_ended(id).await?.state, State::Success);
    }
    let after = start(&cluster, 0, &flow_id, &[]).await?;
    assert_eq!(
        cluster.wait_until_ended(&after).await?.state,
        State::Success,
        "the freed slots are usable"
    );
    assert!(most_at_once(&executions(&cluster, &flow_id).await?) <= 2);
    assert_eq!(slots_left(&cluster, &flow_id).await?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_fail_end_extra_executions_at_once_on_sqlite() -> anyhow::Result<()> {
    refuses_extra_executions(false, "CANCEL").await?;
    refuses_extra_executions(false, "FAIL").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_fail_end_extra_executions_at_once_on_postgres() -> anyhow::Result<()> {
    refuses_extra_executions(true, "CANCEL").await?;
    refuses_extra_executions(true, "FAIL").await
}

async fn queue_is_first_in_first_out(postgres: bool) -> anyhow::Result<()> {
    let cluster = cluster(postgres).await?;
    cluster.deploy(&flow("fifo", 1, "QUEUE")).await?;
    let holder = start(&cluster, 0, "fifo", &[("hold", "true")]).await?;
    wait_state(&cluster, &holder, State::Paused).await?;
    let mut waiting = Vec::new();
    for n in 0..5 {
        let id = start(&cluster, n, "fifo", &[]).await?;
        wait_state(&cluster, &id, State::Queued).await?;
        waiting.push(id);
    }
    executor::resume(&cluster.executor, &holder).await?;
    let mut starts = Vec::new();
    for id in &waiting {
        let ended = cluster.wait_until_ended(id).await?;
        assert_eq!(ended.state, State::Success);
        starts.push(running_intervals(&ended).first().map(|(start, _)| *start));
    }
    assert!(
        starts.windows(2).all(|pair| pair[0] < pair[1]),
        "started in the order they queued: {starts:?}"
    );
    assert_eq!(most_at_once(&executions(&cluster, "fifo").await?), 1);
    assert_eq!(slots_left(&cluster, "fifo").await?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_executions_start_in_the_order_they_queued_on_sqlite() -> anyhow::Result<()> {
    queue_is_first_in_first_out(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_executions_start_in_the_order_they_queued_on_postgres() -> anyhow::Result<()> {
    queue_is_first_in_first_out(true).await
}

/// kestra#13211 and #13743: kills must free slots, whether the killed execution waited,
/// paused or ran a task on a worker.
async fn kills_free_slots(postgres: bool) -> anyhow::Result<()> {
    let cluster = cluster(postgres).await?;
    cluster.deploy(&flow("killed", 1, "QUEUE")).await?;
    let paused = start(&cluster, 0, "killed", &[("hold", "true")]).await?;
    wait_state(&cluster, &paused, State::Paused).await?;
    let queued = start(&cluster, 1, "killed", &[]).await?;
    let sleeper = start(&cluster, 0, "killed", &[("sleep", "30")]).await?;
    let last = start(&cluster, 1, "killed", &[]).await?;
    for id in [&queued, &sleeper, &last] {
        wait_state(&cluster, id, State::Queued).await?;
    }

    executor::kill(&cluster.executor, &queued).await?;
    assert_eq!(
        wait_state(&cluster, &queued, State::Killed)
            .await?
            .task_runs
            .len(),
        0
    );
    assert_eq!(cluster.execution(&sleeper).await?.state, State::Queued);

    executor::kill(&cluster.executor, &paused).await?;
    wait_state(&cluster, &paused, State::Killed).await?;
    // The sleeper gets the slot and runs its command on a worker; kill it there.
    cluster
        .wait_for(&sleeper, |e| {
            e.task_runs
                .iter()
                .any(|r| r.task_id == "sleep" && r.state == State::Running)
        })
        .await?;
    assert_eq!(cluster.execution(&last).await?.state, State::Queued);
    executor::kill(&cluster.executor, &sleeper).await?;
    wait_state(&cluster, &sleeper, State::Killed).await?;

    assert_eq!(cluster.wait_until_ended(&last).await?.state, State::Success);
    assert_eq!(most_at_once(&executions(&cluster, "killed").await?), 1);
    assert_eq!(slots_left(&cluster, "killed").await?, 0, "no slot leaked");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_free_the_slots_of_queued_paused_and_running_executions_on_sqlite()
-> anyhow::Result<()> {
    kills_free_slots(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_free_the_slots_of_queued_paused_and_running_executions_on_postgres()
-> anyhow::Result<()> {
    kills_free_slots(true).await
}

async fn restart_takes_a_slot(postgres: bool) -> anyhow::Result<()> {
    let cluster = cluster(postgres).await?;
    cluster.deploy(&flow("restarted", 1, "QUEUE")).await?;
    let failing = start(&cluster, 0, "restarted", &[("fail", "true")]).await?;
    assert_eq!(
        cluster.wait_until_ended(&failing).await?.state,
        State::Failed
    );
    let holder = start(&cluster, 1, "restarted", &[("hold", "true")]).await?;
    wait_state(&cluster, &holder, State::Paused).await?;

    executor::restart(&cluster.executor, &failing).await?;
    let waiting = wait_state(&cluster, &failing, State::Queued).await?;
    assert_eq!(waiting.ended_at, None);
    executor::resume(&cluster.executor, &holder).await?;
    assert_eq!(
        cluster.wait_until_ended(&holder).await?.state,
        State::Success
    );

    let rerun = cluster
        .wait_for(&failing, |e| {
            e.state == State::Failed && e.history.iter().any(|c| c.state == State::Queued)
        })
        .await?;
    let states: Vec<State> = rerun.history.iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        [
            State::Created,
            State::Running,
            State::Failed,
            State::Queued,
            State::Running,
            State::Failed
        ]
    );
    let fail_task = rerun
        .task_runs
        .iter()
        .find(|r| r.task_id == "maybe_fail")
        .expect("fail task ran");
    assert_eq!(fail_task.attempts.len(), 2, "the failed task ran again");
    assert_eq!(most_at_once(&executions(&cluster, "restarted").await?), 1);
    assert_eq!(slots_left(&cluster, "restarted").await?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_waits_for_a_slot_and_reruns_what_failed_on_sqlite() -> anyhow::Result<()> {
    restart_takes_a_slot(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_waits_for_a_slot_and_reruns_what_failed_on_postgres() -> anyhow::Result<()> {
    restart_takes_a_slot(true).await
}
