//! Server-sent events: followed logs and followed executions.

use super::support::*;

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
