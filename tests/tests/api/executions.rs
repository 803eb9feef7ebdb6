//! Executions over the API: inputs, search, `?wait=true`, not found.

use super::support::*;

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
    // A refused execution leaves none of its uploads behind.
    let folder = baton_storage::StorageUri::parse("kestra:///tests/api/hello")?;
    assert_eq!(api._cluster.storage.list(&folder).await?, []);

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
