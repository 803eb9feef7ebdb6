//! `http.download` and `http.request` against a real HTTP server on loopback, started by each
//! test: bodies streamed into storage, JSON parsed, forms, headers, 404, an unreachable host,
//! size limits, a stalled server, a kill mid-download.

mod support;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Multipart, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use baton_storage::StorageUri;
use baton_tasks::{Cancel, TaskState};
use serde_json::{Value, json};
use support::Harness;

const FLOW: &str = r#"
id: http
namespace: company.team
inputs:
  - id: base
    type: STRING
tasks:
  - id: csv
    type: io.kestra.plugin.core.http.Download
    uri: "{{ inputs.base }}/data/orders.csv?year=2024"
  - id: named
    type: io.kestra.plugin.core.http.Download
    uri: "{{ inputs.base }}/attachment"
  - id: missing
    type: io.kestra.plugin.core.http.Download
    uri: "{{ inputs.base }}/missing"
  - id: missing_allowed
    type: io.kestra.plugin.core.http.Request
    uri: "{{ inputs.base }}/missing"
    options:
      allowFailed: true
  - id: unreachable
    type: io.kestra.plugin.core.http.Download
    uri: "{{ inputs.dead }}/data.csv"
  - id: too_big_declared
    type: io.kestra.plugin.core.http.Download
    uri: "{{ inputs.base }}/big"
    options:
      maxContentLength: 1000
  - id: too_big_streamed
    type: io.kestra.plugin.core.http.Download
    uri: "{{ inputs.base }}/big-stream"
    options:
      maxContentLength: 1000
  - id: big_enough
    type: io.kestra.plugin.core.http.Download
    uri: "{{ inputs.base }}/big-stream"
    options:
      maxContentLength: 300000
  - id: empty
    type: io.kestra.plugin.core.http.Download
    uri: "{{ inputs.base }}/empty"
  - id: empty_allowed
    type: io.kestra.plugin.core.http.Download
    uri: "{{ inputs.base }}/empty"
    failOnEmptyResponse: false
  - id: stalled
    type: io.kestra.plugin.core.http.Download
    uri: "{{ inputs.base }}/stall"
    options:
      timeout:
        readIdleTimeout: PT0.3S
  - id: products
    type: io.kestra.plugin.core.http.Request
    uri: "{{ inputs.base }}/products"
  - id: post_json
    type: io.kestra.plugin.core.http.Request
    uri: "{{ inputs.base }}/echo"
    method: post
    headers:
      X-Token: "t-{{ inputs.base | length }}"
    body: |
      {"title": "Kestra Pen"}
  - id: post_form
    type: io.kestra.plugin.core.http.Request
    uri: "{{ inputs.base }}/echo"
    method: PUT
    formData:
      user: Jane Doe
      n: 3
  - id: upload
    type: io.kestra.plugin.core.http.Request
    uri: "{{ inputs.base }}/upload"
    method: POST
    contentType: multipart/form-data
    formData:
      note: hello
      file: "{{ outputs.csv.uri }}"
      renamed:
        name: renamed.csv
        content: "{{ outputs.csv.uri }}"
  - id: basic
    type: io.kestra.plugin.core.http.Request
    uri: "{{ inputs.base }}/echo"
    options:
      auth:
        type: BASIC
        username: ada
        password: lovelace
  - id: bad_method
    type: io.kestra.plugin.core.http.Request
    uri: "{{ inputs.base }}/echo"
    method: "GET ME"
  - id: not_a_url
    type: io.kestra.plugin.core.http.Request
    uri: "not a url"
"#;

const CSV: &str = "id,amount\n1,10\n2,20\n";
const BIG: usize = 200_000;

async fn echo(headers: HeaderMap, request: Request) -> impl IntoResponse {
    let method = request.method().to_string();
    let body = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap();
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    axum::Json(json!({
        "method": method,
        "contentType": header("content-type"),
        "token": header("x-token"),
        "authorization": header("authorization"),
        "body": String::from_utf8(body.to_vec()).unwrap(),
    }))
}

async fn upload(mut form: Multipart) -> impl IntoResponse {
    let mut parts = Vec::new();
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap().to_owned();
        let file = field.file_name().map(str::to_owned);
        let text = field.text().await.unwrap();
        parts.push(json!({"name": name, "file": file, "text": text}));
    }
    axum::Json(Value::Array(parts))
}

/// A server on a port-0 socket; returns its base URL.
async fn serve() -> String {
    let router = Router::new()
        .route("/data/orders.csv", get(|| async { CSV }))
        .route(
            "/attachment",
            get(|| async {
                (
                    [(
                        header::CONTENT_DISPOSITION,
                        r#"attachment; filename="report.csv""#,
                    )],
                    "a,b\n",
                )
            }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "no such thing") }),
        )
        .route("/big", get(|| async { "x".repeat(BIG) }))
        .route(
            "/big-stream",
            get(|| async {
                // Chunked: no Content-Length, so only counting the bytes finds the size.
                let chunks = (0..BIG / 1000).map(|_| Ok::<_, std::io::Error>("y".repeat(1000)));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route("/empty", get(|| async { "" }))
        .route(
            "/stall",
            get(|| async {
                let never = futures_util::stream::pending::<Result<String, std::io::Error>>();
                Body::from_stream(never)
            }),
        )
        .route(
            "/products",
            get(|| async { axum::Json(json!({"products": [{"id": 1}, {"id": 2}], "total": 2})) }),
        )
        .route("/echo", any(echo))
        .route("/upload", post(upload));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// A URL where nothing listens: a port bound, then released.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

async fn harness() -> Harness {
    let mut harness = Harness::new(FLOW, true);
    harness.inputs = json!({"base": serve().await, "dead": dead_url().await});
    harness
}

async fn stored_text(harness: &Harness, uri: &Value) -> String {
    let uri = StorageUri::parse(uri.as_str().unwrap()).unwrap();
    let storage = harness.storage.as_ref().unwrap();
    storage.read_text(&uri, 10_000_000).await.unwrap()
}

#[tokio::test]
async fn a_download_is_stored_under_the_task_run_with_code_length_and_headers() {
    let mut harness = harness().await;
    let outputs = harness.run_ok("csv").await;
    assert_eq!(
        outputs["uri"],
        "kestra:///company/team/http/executions/exec1/tasks/csv/run-csv/orders.csv"
    );
    assert_eq!(outputs["code"], 200);
    assert_eq!(outputs["length"], CSV.len());
    assert_eq!(
        outputs["headers"]["content-length"],
        json!([CSV.len().to_string()])
    );
    assert_eq!(stored_text(&harness, &outputs["uri"]).await, CSV);

    let named = harness.run_ok("named").await;
    assert!(
        named["uri"]
            .as_str()
            .unwrap()
            .ends_with("/run-named/report.csv"),
        "{named}"
    );
}

#[tokio::test]
async fn a_404_fails_with_the_code_and_body_unless_failures_are_allowed() {
    let mut harness = harness().await;
    let (error, _) = harness.run_failed("missing").await;
    assert_eq!(
        error,
        "Failed http request with response code '404' and body:\nno such thing"
    );
    assert!(harness.stored_files().is_empty());
    let allowed = harness.run_ok("missing_allowed").await;
    assert_eq!(allowed["code"], 404);
    assert_eq!(allowed["body"], "no such thing");
}

#[tokio::test]
async fn an_unreachable_host_fails_naming_the_url_and_the_cause() {
    let mut harness = harness().await;
    let (error, _) = harness.run_failed("unreachable").await;
    let dead = harness.inputs["dead"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("GET {dead}/data.csv: cannot connect")),
        "{error}"
    );
    assert!(
        error.to_lowercase().contains("connection refused"),
        "{error}"
    );
}

#[tokio::test]
async fn a_body_over_max_content_length_fails_and_stores_nothing() {
    let mut harness = harness().await;
    let (declared, _) = harness.run_failed("too_big_declared").await;
    assert!(
        declared
            .ends_with("/big: the response is larger than options.maxContentLength (1000 bytes)"),
        "{declared}"
    );
    let (streamed, _) = harness.run_failed("too_big_streamed").await;
    assert!(
        streamed.contains("the response is larger than options.maxContentLength (1000 bytes)"),
        "{streamed}"
    );
    assert!(
        harness.stored_files().is_empty(),
        "{:?}",
        harness.stored_files()
    );
    let stored = harness.run_ok("big_enough").await;
    assert_eq!(stored["length"], BIG);
    assert_eq!(stored_text(&harness, &stored["uri"]).await, "y".repeat(BIG));
}

#[tokio::test]
async fn an_empty_body_fails_unless_fail_on_empty_response_is_off() {
    let mut harness = harness().await;
    let (error, _) = harness.run_failed("empty").await;
    assert!(
        error.ends_with("/empty: No response from server (empty body)"),
        "{error}"
    );
    let (outcome, logs) = harness.run("empty_allowed").await;
    assert_eq!(outcome.state, TaskState::Success, "{outcome:?}");
    assert_eq!(outcome.outputs["length"], 0);
    assert!(
        support::lines(&logs)[0].ends_with("/empty' is empty"),
        "{logs:?}"
    );
    assert_eq!(stored_text(&harness, &outcome.outputs["uri"]).await, "");
}

#[tokio::test]
async fn a_stalled_response_times_out_and_a_kill_stops_a_download() {
    let mut harness = harness().await;
    let (error, _) = harness.run_failed("stalled").await;
    assert!(error.contains("timed out"), "{error}");

    // Without a read timeout of its own the download would wait five minutes.
    let cancel = Cancel::new();
    let killer = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        killer.cancel();
    });
    harness.flow = baton_core::parse::parse_flow(
        &FLOW.replace("readIdleTimeout: PT0.3S", "readIdleTimeout: PT1H"),
    )
    .flow
    .unwrap();
    let (outcome, _) = harness.run_with("stalled", &cancel).await;
    assert_eq!(outcome.state, TaskState::Killed, "{outcome:?}");
    assert!(harness.stored_files().is_empty());
}

#[tokio::test]
async fn a_json_response_is_parsed_into_the_body_output() {
    let mut harness = harness().await;
    let outputs = harness.run_ok("products").await;
    assert_eq!(outputs["code"], 200);
    assert_eq!(outputs["body"]["products"][1]["id"], 2);
    assert_eq!(
        outputs["headers"]["content-type"],
        json!(["application/json"])
    );
    assert_eq!(
        outputs["uri"],
        format!("{}/products", harness.inputs["base"].as_str().unwrap())
    );
}

#[tokio::test]
async fn bodies_forms_headers_and_basic_auth_are_sent() {
    let mut harness = harness().await;
    let sent = harness.run_ok("post_json").await;
    let base_len = harness.inputs["base"].as_str().unwrap().len();
    assert_eq!(
        sent["body"],
        json!({
            "method": "POST",
            "contentType": "application/json",
            "token": format!("t-{base_len}"),
            "authorization": "",
            "body": "{\"title\": \"Kestra Pen\"}\n",
        })
    );
    let form = harness.run_ok("post_form").await;
    assert_eq!(form["body"]["method"], "PUT");
    assert_eq!(
        form["body"]["contentType"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(form["body"]["body"], "user=Jane+Doe&n=3");
    let basic = harness.run_ok("basic").await;
    // base64("ada:lovelace")
    assert_eq!(basic["body"]["authorization"], "Basic YWRhOmxvdmVsYWNl");
}

#[tokio::test]
async fn multipart_form_data_sends_storage_files_as_files() {
    let mut harness = harness().await;
    harness.run_ok("csv").await;
    let outputs = harness.run_ok("upload").await;
    assert_eq!(
        outputs["body"],
        json!([
            {"name": "note", "file": null, "text": "hello"},
            {"name": "file", "file": "orders.csv", "text": CSV},
            {"name": "renamed", "file": "renamed.csv", "text": CSV},
        ])
    );
}

#[tokio::test]
async fn a_bad_method_or_uri_fails_naming_the_property() {
    let mut harness = harness().await;
    let (method, _) = harness.run_failed("bad_method").await;
    assert_eq!(method, "method: 'GET ME' is not an HTTP method");
    let (uri, _) = harness.run_failed("not_a_url").await;
    assert!(uri.starts_with("uri: 'not a url' is not a URL"), "{uri}");
}
