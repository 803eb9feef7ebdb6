//! Subflow end to end, on real processes driven over the REST API: `baton server standalone`
//! on Postgres and `baton server local` on SQLite run the same scenarios.

mod flows;
mod server;

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use server::Server;

/// The task run of `task_id` in an execution document.
fn task_run<'e>(execution: &'e Value, task_id: &str) -> &'e Value {
    execution["taskRuns"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["taskId"] == task_id))
        .unwrap_or(&Value::Null)
}

/// The child execution a Subflow task run started.
fn child_id(execution: &Value, task_id: &str) -> anyhow::Result<String> {
    task_run(execution, task_id)["outputs"]["executionId"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no executionId on {task_id}: {execution}"))
}

async fn outputs_come_back_from_a_successful_child(server: &Server) -> anyhow::Result<()> {
    let id = server.start("parent").await?;
    let parent = server.wait_until_ended(&id).await?;
    ensure!(parent["state"] == "SUCCESS", "parent: {parent}");
    let child = server.execution(&child_id(&parent, "call")?).await?;
    ensure!(child["state"] == "SUCCESS", "child: {child}");
    let greeting = format!("hello {id} x3 from {id}");
    ensure!(
        task_run(&parent, "after")["outputs"]["value"] == greeting.as_str(),
        "the next task reads outputs.call.outputs.greeting: {parent}"
    );
    let call = &task_run(&parent, "call")["outputs"];
    ensure!(
        call["state"] == "SUCCESS" && call["outputs"]["greeting"] == greeting.as_str(),
        "{call}"
    );
    let link = &child["parentExecution"];
    ensure!(
        link["executionId"] == id.as_str()
            && link["taskId"] == "call"
            && link["taskRunId"] == task_run(&parent, "call")["id"]
            && child["trigger"]["executionId"] == id.as_str(),
        "the child names its parent: {child}"
    );
    ensure!(
        child["labels"]["team"] == "data" && child["labels"]["called_by"] == "parent",
        "inherited and given labels: {child}"
    );
    Ok(())
}

async fn a_failed_child_fails_the_task_unless_told_otherwise(
    server: &Server,
) -> anyhow::Result<()> {
    let id = server.start("transmits").await?;
    let parent = server.wait_until_ended(&id).await?;
    ensure!(parent["state"] == "FAILED", "transmitFailed: {parent}");
    let child_id = child_id(&parent, "call")?;
    let child = server.execution(&child_id).await?;
    ensure!(child["state"] == "FAILED", "child: {child}");
    let call = task_run(&parent, "call");
    ensure!(
        call["state"] == "FAILED"
            && call["error"]
                .as_str()
                .is_some_and(|e| e.contains(&child_id) && e.contains("FAILED")),
        "{call}"
    );

    let id = server.start("swallows").await?;
    let parent = server.wait_until_ended(&id).await?;
    ensure!(
        parent["state"] == "SUCCESS",
        "transmitFailed false: {parent}"
    );
    let call = task_run(&parent, "call");
    ensure!(
        call["state"] == "SUCCESS" && call["outputs"]["state"] == "FAILED",
        "the child's state is still an output: {call}"
    );
    Ok(())
}

async fn a_task_that_does_not_wait_succeeds_at_once(server: &Server) -> anyhow::Result<()> {
    let id = server.start("fire_and_forget").await?;
    let parent = server.wait_until_ended(&id).await?;
    ensure!(parent["state"] == "SUCCESS", "{parent}");
    let child_id = child_id(&parent, "call")?;
    let child = server.execution(&child_id).await?;
    ensure!(
        !matches!(
            child["state"].as_str(),
            Some("SUCCESS" | "FAILED" | "KILLED")
        ),
        "the parent ended while its child runs a 60 s command: {child}"
    );
    ensure!(
        child["parentExecution"]["wait"] == false,
        "the child knows nobody waits: {child}"
    );
    server.kill(&child_id).await?;
    server.wait_until_ended(&child_id).await?;
    Ok(())
}

async fn killing_the_parent_kills_its_child(server: &Server) -> anyhow::Result<()> {
    let id = server.start("waits_for_slow").await?;
    let parent = server
        .wait_for(&id, "waiting for its child", |e| {
            task_run(e, "call")["outputs"]["executionId"].is_string()
        })
        .await?;
    let child_id = child_id(&parent, "call")?;
    server
        .wait_for(&child_id, "running its command", |e| {
            task_run(e, "nap")["state"] == "RUNNING"
        })
        .await?;
    server.kill(&id).await?;
    let parent = server.wait_until_ended(&id).await?;
    ensure!(parent["state"] == "KILLED", "{parent}");
    let child = server.wait_until_ended(&child_id).await?;
    ensure!(
        child["state"] == "KILLED" && task_run(&child, "nap")["state"] == "KILLED",
        "the child and its command are killed too: {child}"
    );
    Ok(())
}

async fn a_missing_flow_or_bad_inputs_fail_the_task_clearly(server: &Server) -> anyhow::Result<()> {
    for (flow_id, expected) in [
        ("calls_missing", "flow tests.subflows.nope not found"),
        (
            "bad_inputs",
            "inputs of flow tests.subflows.child: input 'n'",
        ),
    ] {
        let id = server.start(flow_id).await?;
        let parent = server.wait_until_ended(&id).await?;
        let call = task_run(&parent, "call");
        ensure!(
            parent["state"] == "FAILED"
                && call["error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with(expected)),
            "{flow_id}: expected '{expected}…': {parent}"
        );
        ensure!(
            call["outputs"]["executionId"].is_null(),
            "{flow_id}: no child was created: {call}"
        );
    }
    Ok(())
}

/// Restarting the parent restarts its failed child (Kestra's RETRY_FAILED), which this time
/// succeeds, and the parent with it.
async fn restarting_the_parent_retries_the_failed_child(server: &Server) -> anyhow::Result<()> {
    let marker = server.dir.join(format!("marker-{}", uuid::Uuid::now_v7()));
    let id = server
        .start_with("restartable", json!({"marker": marker.to_str()}))
        .await?;
    let parent = server.wait_until_ended(&id).await?;
    ensure!(parent["state"] == "FAILED", "first run: {parent}");
    let child_id = child_id(&parent, "call")?;
    server.restart(&id).await?;
    let parent = server
        .wait_for(&id, "SUCCESS after the restart", |e| {
            e["state"] == "SUCCESS"
        })
        .await?;
    ensure!(
        self::child_id(&parent, "call")? == child_id,
        "the same child ran again: {parent}"
    );
    let child = server.execution(&child_id).await?;
    let attempts = task_run(&child, "first_time_fails")["attempts"]
        .as_array()
        .map_or(0, Vec::len);
    ensure!(
        child["state"] == "SUCCESS" && attempts == 2,
        "the child's failed task ran again: {child}"
    );
    Ok(())
}

/// `ping` calls `pong` calls `ping`…: the chain stops at the depth limit and every level fails.
async fn a_cycle_of_subflows_stops_at_the_depth_limit(server: &Server) -> anyhow::Result<()> {
    let root = server.start("ping").await?;
    let mut execution = server.wait_until_ended(&root).await?;
    let mut depth = 0;
    while let Ok(next) = child_id(&execution, "call") {
        ensure!(execution["state"] == "FAILED", "level {depth}: {execution}");
        execution = server.wait_until_ended(&next).await?;
        depth += 1;
        ensure!(depth <= 10, "deeper than the limit: {execution}");
    }
    let error = task_run(&execution, "call")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ensure!(
        depth == 10 && error.contains("subflows nest at most 10 levels deep"),
        "the deepest execution ({depth}) names the limit: {execution}"
    );
    Ok(())
}

async fn every_scenario(server: &Server) -> anyhow::Result<()> {
    server.deploy_all().await?;
    outputs_come_back_from_a_successful_child(server)
        .await
        .context("outputs")?;
    a_failed_child_fails_the_task_unless_told_otherwise(server)
        .await
        .context("failed child")?;
    a_task_that_does_not_wait_succeeds_at_once(server)
        .await
        .context("wait: false")?;
    killing_the_parent_kills_its_child(server)
        .await
        .context("kill")?;
    a_missing_flow_or_bad_inputs_fail_the_task_clearly(server)
        .await
        .context("refused")?;
    restarting_the_parent_retries_the_failed_child(server)
        .await
        .context("restart")?;
    a_cycle_of_subflows_stops_at_the_depth_limit(server)
        .await
        .context("cycle")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subflows_on_a_standalone_server_on_postgres() -> anyhow::Result<()> {
    every_scenario(&Server::standalone_on_postgres().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subflows_on_a_local_server() -> anyhow::Result<()> {
    every_scenario(&Server::local().await?).await
}
