//! `ExecutionService`: create with inputs and labels, watch to the end, logs, list, kill,
//! restart and replay.

use super::support::*;

fn create(flow: &str, inputs: &[(&str, pb::input_value::Value)]) -> pb::CreateExecutionRequest {
    pb::CreateExecutionRequest {
        namespace: "tests.grpc".into(),
        flow_id: flow.into(),
        revision: None,
        inputs: inputs
            .iter()
            .map(|(name, value)| {
                let value = Some(value.clone());
                ((*name).to_owned(), pb::InputValue { value })
            })
            .collect(),
        labels: vec![pb::Label {
            key: "team".into(),
            value: "data".into(),
        }],
    }
}

fn text(value: &str) -> pb::input_value::Value {
    pb::input_value::Value::Text(value.to_owned())
}

fn json(value: &str) -> pb::input_value::Value {
    pb::input_value::Value::Json(value.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_is_watched_to_success_and_its_logs_read_and_followed() -> anyhow::Result<()> {
    let server = Server::start()?;
    let (mut flows, mut executions) = server.clients(None).await?;
    deploy(&mut flows, HELLO).await?;

    let inputs = [("name", text("grpc")), ("tags", json(r#"["a","b"]"#))];
    let created = executions
        .create(create("hello", &inputs))
        .await?
        .into_inner();
    assert_eq!(created.flow_revision, 1);
    assert_eq!(created.labels[0].key, "team");
    let inputs: serde_json::Value = serde_json::from_str(&created.inputs_json)?;
    assert_eq!(inputs["tags"], serde_json::json!(["a", "b"]));

    // Watch from the start: every message is a change, and the stream ends after SUCCESS.
    let stream = executions
        .watch(pb::WatchExecutionRequest {
            id: created.id.clone(),
        })
        .await?
        .into_inner();
    let seen = read_to_end(stream).await?;
    let last = seen.last().expect("at least one message");
    assert_eq!(state_of(last), pb::State::Success, "{last:?}");
    assert!(
        seen[..seen.len() - 1]
            .iter()
            .all(|e| state_of(e) != pb::State::Success)
    );
    assert!(
        seen.windows(2).all(|pair| pair[0] != pair[1]),
        "each message is a change"
    );
    let tasks: Vec<(&str, i32)> = last
        .task_runs
        .iter()
        .map(|run| (run.task_id.as_str(), run.state))
        .collect();
    let success = pb::State::Success as i32;
    assert_eq!(tasks, [("greet", success), ("answer", success)]);
    let outputs: serde_json::Value = serde_json::from_str(&last.task_runs[1].outputs_json)?;
    assert_eq!(outputs["value"], "grpc!");
    assert!(last.ended.is_some());
    // Watching an ended execution answers it once and ends.
    let again = executions
        .watch(pb::WatchExecutionRequest {
            id: created.id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(read_to_end(again).await?, std::slice::from_ref(last));

    let get = executions
        .get(pb::GetExecutionRequest {
            id: created.id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(&get, last);

    let logs = |follow| pb::ExecutionLogsRequest {
        execution_id: created.id.clone(),
        follow,
        min_level: pb::LogLevel::Unspecified as i32,
        task_run_id: None,
    };
    let lines = read_to_end(executions.logs(logs(false)).await?.into_inner()).await?;
    let line = match &lines[..] {
        [
            pb::ExecutionLogEvent {
                event: Some(pb::execution_log_event::Event::Line(line)),
            },
        ] => line,
        other => panic!("one line, no end when not following: {other:?}"),
    };
    assert_eq!(line.message, "hello grpc 2 tag(s)");
    assert_eq!(line.task_id.as_deref(), Some("greet"));
    assert_eq!(line.level, pb::LogLevel::Info as i32);
    let followed = read_to_end(executions.logs(logs(true)).await?.into_inner()).await?;
    assert_eq!(followed.len(), 2, "{followed:?}");
    assert_eq!(followed[0], lines[0]);
    assert_eq!(
        followed[1].event,
        Some(pb::execution_log_event::Event::End(success))
    );

    // Listed with the REST search's filters.
    let list = |states: Vec<i32>, labels: Vec<pb::Label>| pb::ListExecutionsRequest {
        namespace: Some("tests.grpc".into()),
        flow_id: Some("hello".into()),
        states,
        labels,
        page_size: 10,
        ..Default::default()
    };
    let label = |value: &str| pb::Label {
        key: "team".into(),
        value: value.into(),
    };
    let found = executions
        .list(list(vec![success], vec![label("data")]))
        .await?
        .into_inner();
    assert_eq!(found.executions.len(), 1);
    assert_eq!(found.executions[0].id, created.id);
    let none = executions
        .list(list(vec![pb::State::Failed as i32], vec![]))
        .await?
        .into_inner();
    assert!(none.executions.is_empty());
    let none = executions
        .list(list(vec![], vec![label("other")]))
        .await?
        .into_inner();
    assert!(none.executions.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_get_their_grpc_codes() -> anyhow::Result<()> {
    let server = Server::start()?;
    let (mut flows, mut executions) = server.clients(None).await?;
    deploy(&mut flows, HELLO).await?;

    let status = executions
        .create(create("hello", &[("tags", json("not json"))]))
        .await
        .expect_err("malformed JSON");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("input 'tags': invalid JSON"),
        "{status:?}"
    );
    let status = executions
        .create(create("hello", &[("tags", json(r#"{"a": 1}"#))]))
        .await
        .expect_err("an object for an ARRAY");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("tags"), "{status:?}");
    let status = executions
        .create(create("nothing", &[]))
        .await
        .expect_err("no such flow");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = executions
        .get(pb::GetExecutionRequest {
            id: "0190c0de-0000-7000-8000-000000000000".into(),
        })
        .await
        .expect_err("no such execution");
    assert_eq!(status.code(), Code::NotFound);
    let status = executions
        .watch(pb::WatchExecutionRequest { id: "nope".into() })
        .await
        .expect_err("not an id");
    assert_eq!(status.code(), Code::NotFound);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ends_a_running_execution_killed_then_restart_and_replay_run_it_again()
-> anyhow::Result<()> {
    let server = Server::start()?;
    let (mut flows, mut executions) = server.clients(None).await?;
    deploy(&mut flows, SLEEPY).await?;
    let created = executions.create(create("sleepy", &[])).await?.into_inner();
    let running = pb::State::Running as i32;
    watch_until(&mut executions, &created.id, |e| {
        e.task_runs.iter().any(|run| run.state == running)
    })
    .await?;

    let id = || pb::ExecutionRef {
        id: created.id.clone(),
    };
    let asked = executions.kill(id()).await?.into_inner();
    assert_eq!(asked.id, created.id);
    let ended = watch_until(&mut executions, &created.id, |e| {
        state_of(e) == pb::State::Killed
    })
    .await?;
    assert_eq!(ended.task_runs[0].state, pb::State::Killed as i32);
    let status = executions.kill(id()).await.expect_err("already killed");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("already KILLED"), "{status:?}");
    let status = executions.resume(id()).await.expect_err("not paused");
    assert_eq!(status.code(), Code::FailedPrecondition);

    // A killed execution restarts under the same id; kill it again to end the test quickly.
    executions.restart(id()).await?;
    // Restart is asked of the executor and happens in its next step: until then the execution
    // still reads KILLED, and a Watch of an ended execution ends at once.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while state_of(
        &executions
            .get(pb::GetExecutionRequest {
                id: created.id.clone(),
            })
            .await?
            .into_inner(),
    ) == pb::State::Killed
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "restart did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    watch_until(&mut executions, &created.id, |e| {
        state_of(e) == pb::State::Running
    })
    .await?;
    executions.kill(id()).await?;
    watch_until(&mut executions, &created.id, |e| {
        state_of(e) == pb::State::Killed
    })
    .await?;

    let replayed = executions
        .replay(pb::ReplayExecutionRequest {
            id: created.id.clone(),
            task_run_id: ended.task_runs[0].id.clone(),
        })
        .await?
        .into_inner();
    assert_ne!(replayed.id, created.id);
    assert_eq!(replayed.original_id.as_deref(), Some(created.id.as_str()));
    let status = executions
        .replay(pb::ReplayExecutionRequest {
            id: created.id.clone(),
            task_run_id: String::new(),
        })
        .await
        .expect_err("no task run");
    assert_eq!(status.code(), Code::InvalidArgument);
    executions
        .kill(pb::ExecutionRef {
            id: replayed.id.clone(),
        })
        .await?;
    Ok(())
}
