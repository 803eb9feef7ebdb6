//! The Webhook trigger: `GET|POST|PUT /executions/webhook/{namespace}/{flowId}/{key}`.

use super::support::*;

const HOOKED: &str = r#"id: hooked
namespace: tests.api
inputs:
  - id: who
    type: STRING
    defaults: nobody
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ inputs.who }} via {{ trigger.headers['x-source'][0] ?? 'no header' }}"
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: s3cr3t-Key_1
    inputs:
      who: "{{ trigger.body.who ?? trigger.parameters.who[0] ?? 'anonymous' }}"
    conditions:
      - type: io.kestra.plugin.core.condition.Expression
        expression: "{{ trigger.body.skip ?? false ? false : true }}"
"#;

const DISABLED: &str = r#"id: off
namespace: tests.api
disabled: true
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: never
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: s3cr3t-Key_1
"#;

const TRIGGER_OFF: &str = r#"id: trigger_off
namespace: tests.api
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: never
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: s3cr3t-Key_1
    disabled: true
"#;

async fn first_log(api: &Api, id: &str) -> anyhow::Result<String> {
    let (_, logs) = api.get(&format!("/logs/{id}")).await?;
    Ok(logs["results"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_starts_the_flow_with_the_request_as_trigger() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(HOOKED).await?;
    let url = api.url("/executions/webhook/tests.api/hooked/s3cr3t-Key_1");

    let response = api
        .http
        .post(&url)
        .header("x-source", "ci")
        .json(&json!({"who": "Ada", "n": [1, 2]}))
        .send()
        .await?;
    let started = expect(response, StatusCode::OK).await?;
    assert_eq!(
        started["trigger"]["body"],
        json!({"who": "Ada", "n": [1, 2]})
    );
    assert_eq!(started["trigger"]["headers"]["x-source"], json!(["ci"]));
    assert_eq!(started["inputs"]["who"], "Ada");
    let id = started["id"].as_str().unwrap_or_default();
    assert_eq!(api.wait_until_ended(id).await?["state"], "SUCCESS");
    assert_eq!(first_log(&api, id).await?, "hello Ada via ci");

    // GET with a query string, on the tenant path; no body.
    let response = api
        .http
        .get(api.url("/main/executions/webhook/tests.api/hooked/s3cr3t-Key_1?who=Bob&who=Eve"))
        .send()
        .await?;
    let started = expect(response, StatusCode::OK).await?;
    assert_eq!(started["trigger"]["body"], Value::Null);
    assert_eq!(
        started["trigger"]["parameters"]["who"],
        json!(["Bob", "Eve"])
    );
    let id = started["id"].as_str().unwrap_or_default();
    api.wait_until_ended(id).await?;
    assert_eq!(first_log(&api, id).await?, "hello Bob via no header");

    // PUT with a body that is not JSON: kept as text.
    let response = api.http.put(&url).body("plain words").send().await?;
    let started = expect(response, StatusCode::OK).await?;
    assert_eq!(started["trigger"]["body"], "plain words");
    assert_eq!(started["inputs"]["who"], "anonymous");
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmet_conditions_start_nothing_and_answer_no_content() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(HOOKED).await?;
    let response = api
        .http
        .post(api.url("/executions/webhook/tests.api/hooked/s3cr3t-Key_1"))
        .json(&json!({"skip": true}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, found) = api
        .get("/executions/search?namespace=tests.api&flowId=hooked")
        .await?;
    assert_eq!(found["results"], json!([]));
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_unknown_and_disabled_flows_are_the_same_not_found() -> anyhow::Result<()> {
    let api = Api::start().await?;
    for flow in [HOOKED, DISABLED, TRIGGER_OFF] {
        api.deploy(flow).await?;
    }
    let mut bodies = Vec::new();
    for path in [
        "/executions/webhook/tests.api/hooked/wrong-key",
        "/executions/webhook/tests.api/hooked/s3cr3t-key_1",
        "/executions/webhook/tests.api/nowhere/s3cr3t-Key_1",
        "/executions/webhook/nowhere/hooked/s3cr3t-Key_1",
        "/executions/webhook/tests.api/off/s3cr3t-Key_1",
        "/executions/webhook/tests.api/trigger_off/s3cr3t-Key_1",
        "/main/executions/webhook/tests.api/off/s3cr3t-Key_1",
    ] {
        let response = api.http.post(api.url(path)).send().await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        bodies.push(response.text().await?);
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "every miss answers alike: {bodies:?}"
    );
    assert!(!bodies[0].contains("hooked"), "{}", bodies[0]);
    let (_, found) = api.get("/executions/search?namespace=tests.api").await?;
    assert_eq!(found["results"], json!([]), "nothing started");
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_need_no_credentials_behind_basic_auth() -> anyhow::Result<()> {
    let api = Api::start_with(ApiOptions {
        basic_auth: Some(BasicAuth {
            username: "admin@kestra.io".into(),
            password: "Admin1234!".into(),
        }),
        ..ApiOptions::default()
    })
    .await?;
    let response = api
        .http
        .post(api.url("/flows"))
        .basic_auth("admin@kestra.io", Some("Admin1234!"))
        .header("content-type", "application/x-yaml")
        .body(HOOKED)
        .send()
        .await?;
    expect(response, StatusCode::OK).await?;
    let response = api
        .http
        .post(api.url("/executions/webhook/tests.api/hooked/s3cr3t-Key_1"))
        .json(&json!({"who": "Kim"}))
        .send()
        .await?;
    assert_eq!(
        expect(response, StatusCode::OK).await?["inputs"]["who"],
        "Kim"
    );
    let response = api
        .http
        .post(api.url("/executions/webhook/tests.api/hooked/nope"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    api.stop().await
}

const WAITING: &str = r#"id: waiting
namespace: tests.api
inputs:
  - id: fail
    type: BOOLEAN
    defaults: false
tasks:
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.parameters.validationToken[0] ?? 'processed' }}"
  - id: maybe_fail
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ inputs.fail }}"
outputs:
  - id: response
    type: STRING
    value: "{{ outputs.answer.value }}"
triggers:
  - id: outputs
    type: io.kestra.plugin.core.trigger.Webhook
    key: outputs-key
    wait: true
    returnOutputs: true
  - id: execution
    type: io.kestra.plugin.core.trigger.Webhook
    key: execution-key
    wait: true
    inputs:
      fail: "{{ trigger.body.fail ?? false }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_webhook_answers_once_the_execution_ended() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(WAITING).await?;
    let response = api
        .http
        .get(api.url("/executions/webhook/tests.api/waiting/outputs-key?validationToken=abc"))
        .send()
        .await?;
    assert_eq!(
        expect(response, StatusCode::OK).await?,
        json!({"response": "abc"}),
        "the flow outputs"
    );
    let response = api
        .http
        .post(api.url("/executions/webhook/tests.api/waiting/execution-key"))
        .json(&json!({}))
        .send()
        .await?;
    let ended = expect(response, StatusCode::OK).await?;
    assert_eq!(ended["state"], "SUCCESS");
    assert_eq!(ended["outputs"]["response"], "processed");
    let response = api
        .http
        .post(api.url("/executions/webhook/tests.api/waiting/execution-key"))
        .json(&json!({"fail": true}))
        .send()
        .await?;
    let failed = expect(response, StatusCode::INTERNAL_SERVER_ERROR).await?;
    assert_eq!(failed["state"], "FAILED");
    api.stop().await
}
