//! The REST API over a real socket: HTTP from reqwest to the webserver, a real SQLite store,
//! the executor and real workers behind it.

use std::time::{Duration, Instant};

use baton_tests::TestCluster;
use baton_webserver::{ApiOptions, ApiState, BasicAuth, router, serve};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const HELLO: &str = r#"id: hello
namespace: tests.api
inputs:
  - id: name
    type: STRING
    defaults: world
  - id: count
    type: INT
    defaults: 1
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ inputs.name }} x{{ inputs.count }}"
  - id: second
    type: io.kestra.plugin.core.log.Log
    message: second line
  - id: third
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message: third line
"#;

const SLEEPY: &str = r#"id: sleepy
namespace: tests.api
tasks:
  - id: sleep
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 30
"#;

const PAUSED: &str = r#"id: paused
namespace: tests.api
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: resumed
"#;

const ONE_RETURN: &str = r#"id: one_return
namespace: tests.api
tasks:
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "42"
"#;

/// A cluster with the API served on 127.0.0.1:0.
struct Api {
    /// Held so the store, executor and workers live as long as the test.
    _cluster: TestCluster,
    base: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Api {
    async fn start() -> anyhow::Result<Self> {
        Self::start_with(ApiOptions::default()).await
    }

    async fn start_with(options: ApiOptions) -> anyhow::Result<Self> {
        let cluster = TestCluster::builder().start().await?;
        let state =
            ApiState::new(cluster.store.clone(), cluster.executor.clone()).with_options(options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/api/v1", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(serve(listener, router(state), async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            _cluster: cluster,
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            stop: Some(stop),
            server,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn deploy(&self, yaml: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(self.url("/flows"))
            .header("content-type", "application/x-yaml")
            .body(yaml.to_owned())
            .send()
            .await?;
        expect(response, StatusCode::OK).await
    }

    async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, Value)> {
        let response = self.http.get(self.url(path)).send().await?;
        Ok((response.status(), response.json().await?))
    }

    /// Starts an execution with a JSON body of inputs; returns its id.
    async fn execute(&self, flow: &str, inputs: Value) -> anyhow::Result<String> {
        let response = self
            .http
            .post(self.url(&format!("/executions/tests.api/{flow}")))
            .json(&inputs)
            .send()
            .await?;
        let body = expect(response, StatusCode::OK).await?;
        Ok(body["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Polls `GET /executions/{id}` until `done` (at most 30 s).
    async fn wait_for(&self, id: &str, done: impl Fn(&str) -> bool) -> anyhow::Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get(&format!("/executions/{id}")).await?;
            anyhow::ensure!(status == StatusCode::OK, "{status}: {body}");
            if done(body["state"].as_str().unwrap_or_default()) {
                return Ok(body);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "still {} after 30 s",
                body["state"]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_until_ended(&self, id: &str) -> anyhow::Result<Value> {
        self.wait_for(id, |state| {
            ["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"].contains(&state)
        })
        .await
    }

    /// Stops the server gracefully; it must return promptly.
    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.server).await???;
        Ok(())
    }
}

/// The body of a response that must have `status`.
async fn expect(response: reqwest::Response, status: StatusCode) -> anyhow::Result<Value> {
    let actual = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(actual == status, "expected {status}, got {actual}: {body}");
    Ok(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_are_created_read_updated_listed_and_deleted_as_yaml() -> anyhow::Result<()> {
    let api = Api::start().await?;
    let created = api.deploy(HELLO).await?;
    assert_eq!(created["namespace"], "tests.api");
    assert_eq!(created["id"], "hello");
    assert_eq!(created["revision"], 1);
    assert_eq!(created["source"], HELLO);
    assert_eq!(created["disabled"], false);
    assert_eq!(created["warnings"], json!([]));

    let again = api.http.post(api.url("/flows")).body(HELLO).send().await?;
    let body = expect(again, StatusCode::CONFLICT).await?;
    assert!(body["message"].as_str().unwrap().contains("already exists"));

    let changed = HELLO.replace("second line", "second line, edited");
    let response = api
        .http
        .put(api.url("/flows/tests.api/hello"))
        .header("content-type", "application/x-yaml")
        .body(changed.clone())
        .send()
        .await?;
    assert_eq!(expect(response, StatusCode::OK).await?["revision"], 2);

    let renamed = HELLO.replace("id: hello", "id: other");
    let response = api
        .http
        .put(api.url("/flows/tests.api/hello"))
        .body(renamed)
        .send()
        .await?;
    let body = expect(response, StatusCode::BAD_REQUEST).await?;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("tests.api.other")
    );

    let response = api
        .http
        .put(api.url("/flows/tests.api/missing"))
        .body(HELLO.replace("id: hello", "id: missing"))
        .send()
        .await?;
    let body = expect(response, StatusCode::NOT_FOUND).await?;
    assert_eq!(body["message"], "flow tests.api.missing not found");

    let (status, latest) = api.get("/flows/tests.api/hello").await?;
    assert_eq!(
        (status, &latest["source"]),
        (StatusCode::OK, &json!(changed))
    );
    let (_, first) = api.get("/flows/tests.api/hello?revision=1").await?;
    assert_eq!(first["source"], HELLO);
    let (status, body) = api.get("/flows/tests.api/hello?revision=9").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "flow tests.api.hello revision 9 not found");
    let (_, revisions) = api.get("/flows/tests.api/hello/revisions").await?;
    let numbers: Vec<&Value> = revisions
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["revision"])
        .collect();
    assert_eq!(numbers, [&json!(1), &json!(2)]);

    // Search by namespace prefix, one flow per page, following the keyset cursor.
    api.deploy(&ONE_RETURN.replace("namespace: tests.api", "namespace: tests.api.sub"))
        .await?;
    api.deploy(&ONE_RETURN.replace("namespace: tests.api", "namespace: tests.apiary"))
        .await?;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..5 {
        let mut request = api
            .http
            .get(api.url("/flows/search"))
            .query(&[("namespace", "tests.api"), ("size", "1")]);
        if let Some(after) = &after {
            request = request.query(&[("after", after)]);
        }
        let page = expect(request.send().await?, StatusCode::OK).await?;
        for flow in page["results"].as_array().unwrap() {
            seen.push(format!(
                "{}.{}",
                flow["namespace"].as_str().unwrap(),
                flow["id"].as_str().unwrap()
            ));
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["tests.api.hello", "tests.api.sub.one_return"]);
    let (_, page2) = api
        .get("/flows/search?namespace=tests&size=1&page=3")
        .await?;
    assert_eq!(page2["results"][0]["namespace"], "tests.apiary");

    let response = api
        .http
        .delete(api.url("/flows/tests.api/hello"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = api.get("/flows/tests.api/hello").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "flow tests.api.hello not found");
    let response = api
        .http
        .delete(api.url("/flows/tests.api/hello"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_flow_is_refused_with_every_diagnostic_and_nothing_is_deployed()
-> anyhow::Result<()> {
    let api = Api::start().await?;
    let invalid = "id: broken\nnamespace: tests.api\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Lgo\n    message: x\n  - id: b\n    type: io.kestra.plugin.core.log.Log\n    mesage: y\n";
    let response = api
        .http
        .post(api.url("/flows"))
        .header("content-type", "application/x-yaml")
        .body(invalid)
        .send()
        .await?;
    let body = expect(response, StatusCode::UNPROCESSABLE_ENTITY).await?;
    let details = body["details"].as_array().unwrap();
    assert!(details.len() >= 2, "{body}");
    for detail in details {
        assert!(detail["line"].as_u64().unwrap() > 0, "{detail}");
        assert!(detail["column"].as_u64().unwrap() > 0, "{detail}");
        assert_eq!(detail["severity"], "error");
    }
    let lines: Vec<u64> = details
        .iter()
        .map(|d| d["line"].as_u64().unwrap())
        .collect();
    assert!(lines.contains(&5) && lines.contains(&9), "{body}");
    assert!(body["message"].as_str().unwrap().contains("5:"), "{body}");
    let (status, body) = api.get("/flows/tests.api/broken").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "flow tests.api.broken not found");

    // Validation answers 200 with a verdict per document.
    let stream = format!("{HELLO}---\n{invalid}");
    let response = api
        .http
        .post(api.url("/flows/validate"))
        .body(stream)
        .send()
        .await?;
    let verdicts = expect(response, StatusCode::OK).await?;
    assert_eq!(verdicts[0]["index"], 0);
    assert_eq!(verdicts[0]["id"], "hello");
    assert_eq!(verdicts[0]["valid"], true);
    assert_eq!(verdicts[1]["id"], "broken");
    assert_eq!(verdicts[1]["namespace"], "tests.api");
    assert_eq!(verdicts[1]["valid"], false);
    assert!(verdicts[1]["diagnostics"].as_array().unwrap().len() >= 2);
    let (_, flows) = api.get("/flows/search?namespace=tests").await?;
    assert_eq!(flows["results"], json!([]));
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_import_as_a_multipart_file_upload() -> anyhow::Result<()> {
    let api = Api::start().await?;
    let form = Form::new().part(
        "fileUpload",
        Part::text(HELLO)
            .file_name("hello.yaml")
            .mime_str("application/x-yaml")?,
    );
    let response = api
        .http
        .post(api.url("/flows/import"))
        .multipart(form)
        .send()
        .await?;
    let deployed = expect(response, StatusCode::OK).await?;
    assert_eq!(deployed[0]["id"], "hello");
    assert_eq!(deployed[0]["revision"], 1);

    // Two flows in one file; importing again is an upsert.
    let both = format!("{HELLO}---\n{ONE_RETURN}");
    let form = Form::new().part("fileUpload", Part::text(both).file_name("both.yaml"));
    let response = api
        .http
        .post(api.url("/flows/import"))
        .multipart(form)
        .send()
        .await?;
    let deployed = expect(response, StatusCode::OK).await?;
    assert_eq!(deployed[0]["revision"], 1, "same source, same revision");
    assert_eq!(deployed[1]["id"], "one_return");
    let (_, stored) = api.get("/flows/tests.api/one_return").await?;
    assert_eq!(stored["source"], ONE_RETURN);

    let form = Form::new().part("fileUpload", Part::text("id: x\n").file_name("bad.yaml"));
    let response = api
        .http
        .post(api.url("/flows/import"))
        .multipart(form)
        .send()
        .await?;
    let body = expect(response, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert!(
        body["details"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("bad.yaml: ")
    );
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_take_multipart_or_json_inputs_and_labels_and_run_to_success()
-> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(HELLO).await?;

    let form = Form::new().text("name", "form").text("count", "3");
    let response = api
        .http
        .post(api.url("/executions/tests.api/hello?labels=team:data&labels=env:test"))
        .multipart(form)
        .send()
        .await?;
    let created = expect(response, StatusCode::OK).await?;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["inputs"], json!({"name": "form", "count": 3}));
    assert_eq!(created["labels"], json!({"team": "data", "env": "test"}));
    let ended = api.wait_until_ended(&id).await?;
    assert_eq!(ended["state"], "SUCCESS", "{ended}");

    let id = api
        .execute("hello", json!({"name": "json", "count": 2}))
        .await?;
    let ended = api.wait_until_ended(&id).await?;
    assert_eq!(ended["state"], "SUCCESS");
    assert_eq!(ended["inputs"], json!({"name": "json", "count": 2}));
    assert_eq!(ended["taskRuns"].as_array().unwrap().len(), 3);

    // No body at all: defaults.
    let response = api
        .http
        .post(api.url("/executions/tests.api/hello"))
        .send()
        .await?;
    let created = expect(response, StatusCode::OK).await?;
    assert_eq!(created["inputs"], json!({"name": "world", "count": 1}));
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_with_422_naming_the_input_and_create_nothing() -> anyhow::Result<()>
{
    let api = Api::start().await?;
    api.deploy(HELLO).await?;
    let form = Form::new().text("count", "many");
    let response = api
        .http
        .post(api.url("/executions/tests.api/hello"))
        .multipart(form)
        .send()
        .await?;
    let body = expect(response, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert!(
        body["message"].as_str().unwrap().contains("'count'"),
        "{body}"
    );

    let response = api
        .http
        .post(api.url("/executions/tests.api/hello"))
        .json(&json!({"count": "many"}))
        .send()
        .await?;
    let body = expect(response, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert!(
        body["message"].as_str().unwrap().contains("'count'"),
        "{body}"
    );

    let form = Form::new().part("name", Part::bytes(b"x".to_vec()).file_name("name.txt"));
    let response = api
        .http
        .post(api.url("/executions/tests.api/hello"))
        .multipart(form)
        .send()
        .await?;
    let body = expect(response, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert!(
        body["message"].as_str().unwrap().contains("input 'name'"),
        "{body}"
    );

    let response = api
        .http
        .post(api.url("/executions/tests.api/hello"))
        .body("[1]")
        .send()
        .await?;
    expect(response, StatusCode::BAD_REQUEST).await?;
    let response = api
        .http
        .post(api.url("/executions/tests.api/hello?labels=nocolon"))
        .send()
        .await?;
    expect(response, StatusCode::BAD_REQUEST).await?;
    let response = api
        .http
        .post(api.url("/executions/tests.api/nope"))
        .send()
        .await?;
    let body = expect(response, StatusCode::NOT_FOUND).await?;
    assert_eq!(body["message"], "flow tests.api.nope not found");

    let (_, page) = api.get("/executions/search?namespace=tests.api").await?;
    assert_eq!(page["results"], json!([]), "no execution was created");
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_search_filters_and_follows_the_keyset_cursor_newest_first() -> anyhow::Result<()>
{
    let api = Api::start().await?;
    api.deploy(HELLO).await?;
    api.deploy(ONE_RETURN).await?;
    let mut ids = Vec::new();
    for i in 0..5 {
        let response = api
            .http
            .post(api.url(&format!(
                "/executions/tests.api/hello?labels=batch:{}",
                i % 2
            )))
            .send()
            .await?;
        ids.push(
            expect(response, StatusCode::OK).await?["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let other = api.execute("one_return", json!({})).await?;
    for id in ids.iter().chain([&other]) {
        api.wait_until_ended(id).await?;
    }

    let mut pages = Vec::new();
    let mut url = api.url("/executions/search?namespace=tests.api&flowId=hello&size=2");
    loop {
        let page = expect(api.http.get(&url).send().await?, StatusCode::OK).await?;
        let found: Vec<String> = page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        pages.push(found);
        let Some(next) = page["next"].as_str() else {
            break;
        };
        url = api.url(&format!(
            "/executions/search?namespace=tests.api&flowId=hello&size=2&after={next}"
        ));
        anyhow::ensure!(pages.len() < 10, "the cursor does not advance");
    }
    let all: Vec<String> = pages.concat();
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(all, newest_first);
    assert!(pages.iter().all(|p| p.len() <= 2));

    let (_, labelled) = api.get("/executions/search?labels=batch:1").await?;
    let labelled: Vec<&str> = labelled["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(labelled, [ids[3].as_str(), ids[1].as_str()]);
    let (_, states) = api
        .get("/executions/search?state=SUCCESS&flowId=one_return")
        .await?;
    assert_eq!(states["results"][0]["id"], json!(other));
    let (_, none) = api.get("/executions/search?state=FAILED").await?;
    assert_eq!(none["results"], json!([]));
    let (_, future) = api.get("/executions/search?startDate=2999-01-01").await?;
    assert_eq!(future["results"], json!([]));
    let (_, past) = api
        .get("/executions/search?endDate=2000-01-01T00:00:00Z")
        .await?;
    assert_eq!(past["results"], json!([]));
    let (status, body) = api.get("/executions/search?state=SLEEPY").await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    api.stop().await
}

/// Reads a Server-Sent Events stream until its `end` event (at most 20 s); returns the `data`
/// of each event in order, the end event's last, with its name.
async fn read_events(response: reqwest::Response) -> anyhow::Result<Vec<(String, Value)>> {
    let mut response = response;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    let mut events = Vec::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline.into(), response.chunk())
            .await
            .map_err(|_| anyhow::anyhow!("no end event after 20 s: {events:?}"))??;
        let Some(chunk) = chunk else {
            anyhow::bail!("the stream closed without an end event: {events:?}")
        };
        text.push_str(std::str::from_utf8(&chunk)?);
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let mut name = "message".to_owned();
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data = Some(serde_json::from_str(value.trim())?);
                }
            }
            if let Some(data) = data {
                let ended = name == "end";
                events.push((name, data));
                if ended {
                    return Ok(events);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_come_in_order_as_pages_and_as_a_followed_event_stream() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(HELLO).await?;
    let id = api.execute("hello", json!({"name": "logs"})).await?;
    // Follow from the start, while the execution runs.
    let follow = api
        .http
        .get(api.url(&format!("/logs/{id}/follow")))
        .send()
        .await?;
    assert_eq!(follow.status(), StatusCode::OK);
    assert!(
        follow.headers()["content-type"]
            .to_str()?
            .starts_with("text/event-stream")
    );
    let events = read_events(follow).await?;
    let (last, lines) = events.split_last().unwrap();
    assert_eq!(last.0, "end");
    assert_eq!(last.1["state"], "SUCCESS");
    let messages: Vec<&str> = lines
        .iter()
        .map(|(_, l)| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["hello logs x1", "second line", "third line"]);
    assert_eq!(lines[0].1["taskId"], "greet");

    let (status, page) = api.get(&format!("/logs/{id}")).await?;
    assert_eq!(status, StatusCode::OK);
    let messages: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["hello logs x1", "second line", "third line"]);
    assert_eq!(page["results"][2]["level"], "WARN");

    // Pages of one line, following `next`; then nothing new after the last.
    let (_, first) = api.get(&format!("/logs/{id}?limit=1")).await?;
    assert_eq!(first["results"][0]["message"], "hello logs x1");
    let next = first["next"].as_str().unwrap();
    let (_, rest) = api.get(&format!("/logs/{id}?after={next}")).await?;
    assert_eq!(rest["results"].as_array().unwrap().len(), 2);
    let (_, empty) = api
        .get(&format!(
            "/logs/{id}?after={}",
            rest["next"].as_str().unwrap()
        ))
        .await?;
    assert_eq!(empty["results"], json!([]));
    let (_, warn) = api.get(&format!("/logs/{id}?minLevel=WARN")).await?;
    assert_eq!(warn["results"].as_array().unwrap().len(), 1);

    // Following an ended execution sends everything, then the end.
    let follow = api
        .http
        .get(api.url(&format!("/logs/{id}/follow?minLevel=warn")))
        .send()
        .await?;
    let events = read_events(follow).await?;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].1["message"], "third line");
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_stops_a_running_shell_task_and_a_second_kill_conflicts() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(SLEEPY).await?;
    let id = api.execute("sleepy", json!({})).await?;
    api.wait_for(&id, |state| state == "RUNNING").await?;
    // Let the worker start the process, so the kill goes all the way to it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, execution) = api.get(&format!("/executions/{id}")).await?;
        if execution["taskRuns"][0]["state"] == "RUNNING" || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed_at = Instant::now();
    let response = api
        .http
        .delete(api.url(&format!("/executions/{id}/kill")))
        .send()
        .await?;
    expect(response, StatusCode::ACCEPTED).await?;
    let ended = api.wait_until_ended(&id).await?;
    assert_eq!(ended["state"], "KILLED", "{ended}");
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed_at.elapsed()
    );

    let response = api
        .http
        .post(api.url(&format!("/executions/{id}/kill")))
        .send()
        .await?;
    let body = expect(response, StatusCode::CONFLICT).await?;
    assert!(
        body["message"].as_str().unwrap().contains("KILLED"),
        "{body}"
    );
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_continues_a_paused_execution_to_success() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(PAUSED).await?;
    let id = api.execute("paused", json!({})).await?;
    api.wait_for(&id, |state| state == "PAUSED").await?;
    let response = api
        .http
        .post(api.url(&format!("/executions/{id}/resume")))
        .send()
        .await?;
    expect(response, StatusCode::ACCEPTED).await?;
    let ended = api.wait_until_ended(&id).await?;
    assert_eq!(ended["state"], "SUCCESS", "{ended}");
    let response = api
        .http
        .post(api.url(&format!("/executions/{id}/resume")))
        .send()
        .await?;
    let body = expect(response, StatusCode::CONFLICT).await?;
    assert!(
        body["message"].as_str().unwrap().contains("not PAUSED"),
        "{body}"
    );
    api.stop().await
}

const FLAKY: &str = r#"id: flaky
namespace: tests.api
inputs:
  - id: marker
    type: STRING
tasks:
  - id: first
    type: io.kestra.plugin.core.debug.Return
    format: first
  - id: gate
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - test -e "{{ inputs.marker }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_and_replay_run_an_execution_again() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(FLAKY).await?;
    let marker = std::env::temp_dir().join(format!("baton-api-marker-{}", uuid::Uuid::now_v7()));
    let id = api
        .execute("flaky", json!({"marker": marker.to_str().unwrap()}))
        .await?;
    assert_eq!(api.wait_until_ended(&id).await?["state"], "FAILED");

    std::fs::write(&marker, "")?;
    let restart = api
        .http
        .post(api.url(&format!("/executions/{id}/restart")))
        .send()
        .await?;
    expect(restart, StatusCode::ACCEPTED).await?;
    // The answer comes before the executor has applied the restart: the execution may still
    // read FAILED, so wait for the state the restart leads to.
    let restarted = api.wait_for(&id, |state| state == "SUCCESS").await?;
    assert_eq!(restarted["state"], "SUCCESS", "{restarted}");
    let again = api
        .http
        .post(api.url(&format!("/executions/{id}/restart")))
        .send()
        .await?;
    expect(again, StatusCode::CONFLICT).await?;

    let gate = restarted["taskRuns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["taskId"] == "gate")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing = api
        .http
        .post(api.url(&format!("/executions/{id}/replay")))
        .send()
        .await?;
    expect(missing, StatusCode::BAD_REQUEST).await?;
    let replay = api
        .http
        .post(api.url(&format!("/executions/{id}/replay?taskRunId={gate}")))
        .send()
        .await?;
    let replayed = expect(replay, StatusCode::OK).await?;
    let new_id = replayed["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id);
    assert_eq!(replayed["originalId"], id.as_str());
    assert_eq!(api.wait_until_ended(&new_id).await?["state"], "SUCCESS");
    std::fs::remove_file(&marker).ok();
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_things_answer_404_naming_them_and_health_is_up() -> anyhow::Result<()> {
    let api = Api::start().await?;
    let (status, body) = api.get("/health").await?;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "UP"})));
    let missing = uuid::Uuid::now_v7();
    for path in [
        format!("/executions/{missing}"),
        format!("/logs/{missing}"),
        format!("/logs/{missing}/follow"),
    ] {
        let (status, body) = api.get(&path).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            body["message"],
            format!("execution {missing} not found"),
            "{path}"
        );
    }
    let response = api
        .http
        .delete(api.url(&format!("/executions/{missing}/kill")))
        .send()
        .await?;
    let body = expect(response, StatusCode::NOT_FOUND).await?;
    assert_eq!(body["message"], format!("execution {missing} not found"));
    let (status, body) = api.get("/executions/not-a-uuid").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "execution not-a-uuid not found");
    let (status, body) = api.get("/flows/tests.api/ghost/revisions").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "flow tests.api.ghost not found");
    let (status, body) = api.get("/nothing/here").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "no route for GET /api/v1/nothing/here");
    api.stop().await
}

/// Prints the median time from `POST /executions` to `GET /executions/{id}` answering SUCCESS,
/// for a flow of one `return` task, over loopback. `cargo nextest run -p baton-tests
/// --run-ignored only latency` (add `--release` for a release figure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn latency_of_post_execution_to_success() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(ONE_RETURN).await?;
    let mut samples = Vec::new();
    for round in 0..33 {
        let started = Instant::now();
        let id = api.execute("one_return", json!({})).await?;
        loop {
            let (_, execution) = api.get(&format!("/executions/{id}")).await?;
            if execution["state"] == "SUCCESS" {
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "{execution}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The first rounds warm the connection pool and the flow cache.
        if round >= 3 {
            samples.push(started.elapsed());
        }
    }
    report("POST execution -> SUCCESS over loopback", samples);

    // The same without HTTP, to tell the API's share from the executor's and workers'.
    let mut samples = Vec::new();
    for round in 0..33 {
        let started = Instant::now();
        let id = api._cluster.execute("tests.api", "one_return", &[]).await?;
        loop {
            let execution = api._cluster.execution(&id).await?;
            if execution.state == baton_core::execution::State::Success {
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "{id}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if round >= 3 {
            samples.push(started.elapsed());
        }
    }
    report("create_execution -> SUCCESS in process", samples);
    api.stop().await
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what}, one return task: median {:.1} ms, min {:.1} ms, max {:.1} ms ({} runs)",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

const FAILING: &str = r#"id: failing
namespace: tests.api
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: about to fail
  - id: fail
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: on purpose
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_true_answers_with_the_ended_execution_whether_it_succeeds_or_fails()
-> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(ONE_RETURN).await?;
    api.deploy(FAILING).await?;
    let response = api
        .http
        .post(api.url("/executions/tests.api/one_return?wait=true"))
        .send()
        .await?;
    let ended = expect(response, StatusCode::OK).await?;
    assert_eq!(ended["state"], "SUCCESS", "{ended}");
    assert_eq!(ended["taskRuns"][0]["state"], "SUCCESS", "{ended}");
    assert_eq!(ended["taskRuns"][0]["outputs"]["value"], "42", "{ended}");

    let response = api
        .http
        .post(api.url("/executions/tests.api/failing?wait=true"))
        .send()
        .await?;
    let ended = expect(response, StatusCode::OK).await?;
    assert_eq!(ended["state"], "FAILED", "{ended}");

    // Without `wait` the answer does not wait; a bad `wait` is a 400 naming it.
    let response = api
        .http
        .post(api.url("/executions/tests.api/one_return?wait=false"))
        .send()
        .await?;
    let created = expect(response, StatusCode::OK).await?;
    assert_eq!(created["state"], "CREATED", "{created}");
    let response = api
        .http
        .post(api.url("/executions/tests.api/one_return?wait=maybe"))
        .send()
        .await?;
    let body = expect(response, StatusCode::BAD_REQUEST).await?;
    assert!(body["message"].as_str().unwrap().contains("wait"), "{body}");
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_true_gives_up_after_max_wait_with_the_execution_as_it_is() -> anyhow::Result<()> {
    let api = Api::start_with(ApiOptions {
        max_wait: Duration::from_millis(300),
        ..ApiOptions::default()
    })
    .await?;
    api.deploy(PAUSED).await?;
    let started = Instant::now();
    let response = api
        .http
        .post(api.url("/executions/tests.api/paused?wait=true"))
        .send()
        .await?;
    let body = expect(response, StatusCode::OK).await?;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_ne!(body["state"], "SUCCESS", "{body}");
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_paths_under_main_behave_like_the_plain_ones() -> anyhow::Result<()> {
    let api = Api::start().await?;
    let form = Form::new().part("fileUpload", Part::text(HELLO).file_name("hello.yaml"));
    let response = api
        .http
        .post(api.url("/main/flows/import"))
        .multipart(form)
        .send()
        .await?;
    let deployed = expect(response, StatusCode::OK).await?;
    assert_eq!(deployed[0]["id"], "hello");
    let response = api
        .http
        .post(api.url("/main/flows"))
        .header("content-type", "application/x-yaml")
        .body(ONE_RETURN)
        .send()
        .await?;
    assert_eq!(expect(response, StatusCode::OK).await?["revision"], 1);
    let (status, plain) = api.get("/flows/tests.api/hello").await?;
    assert_eq!(status, StatusCode::OK);
    let (status, tenant) = api.get("/main/flows/tests.api/hello").await?;
    assert_eq!((status, &tenant), (StatusCode::OK, &plain));
    let (_, search) = api.get("/main/flows/search?namespace=tests").await?;
    assert_eq!(search["results"].as_array().unwrap().len(), 2, "{search}");

    let form = Form::new().text("name", "tenant");
    let response = api
        .http
        .post(api.url("/main/executions/tests.api/hello?wait=true"))
        .multipart(form)
        .send()
        .await?;
    let ended = expect(response, StatusCode::OK).await?;
    assert_eq!(ended["state"], "SUCCESS", "{ended}");
    let id = ended["id"].as_str().unwrap();
    let (status, read) = api.get(&format!("/main/executions/{id}")).await?;
    assert_eq!((status, &read), (StatusCode::OK, &ended));
    let (_, found) = api
        .get("/main/executions/search?namespace=tests.api")
        .await?;
    assert_eq!(found["results"][0]["id"], id);
    let (_, logs) = api.get(&format!("/main/logs/{id}")).await?;
    assert_eq!(logs["results"][0]["message"], "hello tenant x1");
    let (status, health) = api.get("/main/health").await?;
    assert_eq!((status, health), (StatusCode::OK, json!({"status": "UP"})));
    let (status, body) = api.get("/main/nothing").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "no route for GET /api/v1/main/nothing");
    api.stop().await
}

/// Runs long enough (half a second) to be seen RUNNING by a follower polling every 50 ms.
const SLOW: &str = r#"id: slow
namespace: tests.api
tasks:
  - id: nap
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - sleep 0.5
"#;

/// One Server-Sent Event: its `id`, its `event` name (`message` when none) and its `data`.
type SseEvent = (String, String, Value);

/// Reads a Server-Sent Events stream event by event, each read bounded by 20 s.
struct EventReader {
    response: reqwest::Response,
    text: String,
}

impl EventReader {
    /// The next event with data, or `None` once the server closed the stream.
    async fn next(&mut self) -> anyhow::Result<Option<SseEvent>> {
        loop {
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (String::new(), "message".to_owned(), None);
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        id = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("event:") {
                        name = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data = Some(serde_json::from_str(value.trim())?);
                    }
                }
                if let Some(data) = data {
                    return Ok(Some((id, name, data)));
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .map_err(|_| anyhow::anyhow!("no event within 20 s"))??;
            match chunk {
                Some(chunk) => self.text.push_str(std::str::from_utf8(&chunk)?),
                None => return Ok(None),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_streams_each_change_of_an_execution_until_it_ends() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(SLOW).await?;
    let id = api.execute("slow", json!({})).await?;
    let response = api
        .http
        .get(api.url(&format!("/executions/{id}/follow")))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()?
            .starts_with("text/event-stream")
    );
    let mut events = EventReader {
        response,
        text: String::new(),
    };
    let mut documents: Vec<Value> = Vec::new();
    let last = loop {
        let (event_id, name, execution) = events.next().await?.expect("an event before `end`");
        assert_eq!(name, "message");
        assert_eq!(execution["id"], id.as_str());
        assert_ne!(documents.last(), Some(&execution), "an event per change");
        documents.push(execution.clone());
        if event_id == "end" {
            break execution;
        }
        assert_eq!(event_id, "progress");
    };
    let states: Vec<&str> = documents
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert!(states.contains(&"RUNNING"), "{states:?}");
    assert_eq!(last["state"], "SUCCESS", "{states:?}");
    assert_eq!(last["taskRuns"][0]["state"], "SUCCESS", "{last}");
    assert!(
        events.next().await?.is_none(),
        "the stream ends after `end`"
    );

    // An ended execution: one `end` event, then the stream closes.
    let response = api
        .http
        .get(api.url(&format!("/main/executions/{id}/follow")))
        .send()
        .await?;
    let mut events = EventReader {
        response,
        text: String::new(),
    };
    let (event_id, _, execution) = events.next().await?.expect("an event");
    assert_eq!((event_id.as_str(), &execution), ("end", &last));
    assert!(events.next().await?.is_none());

    let missing = uuid::Uuid::now_v7();
    let (status, body) = api.get(&format!("/executions/{missing}/follow")).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], format!("execution {missing} not found"));
    let (status, _) = api.get(&format!("/executions/{id}/unfollow")).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_guards_every_route_but_health() -> anyhow::Result<()> {
    let api = Api::start_with(ApiOptions {
        basic_auth: Some(BasicAuth {
            username: "admin@kestra.io".into(),
            password: "Admin1234!".into(),
        }),
        ..ApiOptions::default()
    })
    .await?;
    for path in ["/flows/search", "/main/flows/search", "/nothing"] {
        let response = api.http.get(api.url(path)).send().await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Basic realm="baton""#
        );
        let body: Value = response.json().await?;
        assert!(body["message"].as_str().unwrap().contains("authentication"));
    }
    let wrong = api
        .http
        .post(api.url("/flows"))
        .basic_auth("admin@kestra.io", Some("admin1234!"))
        .body(ONE_RETURN)
        .send()
        .await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().contains_key("www-authenticate"));
    let body: Value = wrong.json().await?;
    assert_eq!(body["message"], "invalid credentials");
    let (_, flows) = {
        let response = api
            .http
            .get(api.url("/flows/search"))
            .basic_auth("admin@kestra.io", Some("Admin1234!"))
            .send()
            .await?;
        (response.status(), expect(response, StatusCode::OK).await?)
    };
    assert_eq!(
        flows["results"],
        json!([]),
        "nothing was deployed unauthenticated"
    );

    // The zoomcamp README's call: import with `-u user:pass` on the tenant path.
    let form = Form::new().part("fileUpload", Part::text(ONE_RETURN).file_name("one.yaml"));
    let response = api
        .http
        .post(api.url("/main/flows/import"))
        .basic_auth("admin@kestra.io", Some("Admin1234!"))
        .multipart(form)
        .send()
        .await?;
    assert_eq!(
        expect(response, StatusCode::OK).await?[0]["id"],
        "one_return"
    );
    let response = api
        .http
        .post(api.url("/executions/tests.api/one_return?wait=true"))
        .basic_auth("admin@kestra.io", Some("Admin1234!"))
        .send()
        .await?;
    assert_eq!(expect(response, StatusCode::OK).await?["state"], "SUCCESS");

    for path in ["/health", "/main/health"] {
        let (status, body) = api.get(path).await?;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"status": "UP"})),
            "{path}"
        );
    }
    api.stop().await
}

/// Prints the median time of `POST /executions/{ns}/{id}?wait=true` for a flow of one `return`
/// task, over loopback (one request, answered once the execution has ended). `cargo nextest
/// run -p baton-tests --run-ignored only latency`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn latency_of_post_execution_with_wait() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(ONE_RETURN).await?;
    let mut samples = Vec::new();
    for round in 0..43 {
        let started = Instant::now();
        let response = api
            .http
            .post(api.url("/executions/tests.api/one_return?wait=true"))
            .send()
            .await?;
        let execution = expect(response, StatusCode::OK).await?;
        anyhow::ensure!(execution["state"] == "SUCCESS", "{execution}");
        if round >= 3 {
            samples.push(started.elapsed());
        }
    }
    report("POST execution?wait=true over loopback", samples);
    api.stop().await
}
