//! Execution files over the API: Kestra's older `files` upload part, and the answers of the
//! file routes to requests they cannot serve.

use super::support::*;

const UPLOAD: &str = r#"id: upload
namespace: tests.api
inputs:
  - id: orders
    type: FILE
tasks:
  - id: size
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(inputs.orders) | length }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_files_part_named_by_its_file_name_is_the_input_of_that_name() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(UPLOAD).await?;
    let form = Form::new().part("files", Part::text("12345").file_name("orders"));
    let response = api
        .http
        .post(api.url("/executions/tests.api/upload?wait=true"))
        .multipart(form)
        .send()
        .await?;
    let execution = expect(response, StatusCode::OK).await?;
    let id = execution["id"].as_str().unwrap();
    assert_eq!(execution["state"], "SUCCESS", "{execution}");
    let uri = format!("kestra:///tests/api/upload/executions/{id}/inputs/orders/orders");
    assert_eq!(execution["inputs"]["orders"], uri.as_str());
    assert_eq!(execution["taskRuns"][0]["outputs"]["value"], "5");
    let (status, metas) = api
        .get(&format!("/executions/{id}/file/metas?path={uri}"))
        .await?;
    assert_eq!((status, metas), (StatusCode::OK, json!({"size": 5})));
    api.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_routes_refuse_bad_paths_and_unknown_executions() -> anyhow::Result<()> {
    let api = Api::start().await?;
    api.deploy(UPLOAD).await?;
    let form = Form::new().part("orders", Part::text("x").file_name("o.csv"));
    let response = api
        .http
        .post(api.url("/executions/tests.api/upload?wait=true"))
        .multipart(form)
        .send()
        .await?;
    let id = expect(response, StatusCode::OK).await?["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = api.get(&format!("/executions/{id}/file/metas")).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("path="),
        "{body}"
    );
    let (status, body) = api
        .get(&format!("/executions/{id}/file?path=/etc/passwd"))
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("kestra:///"),
        "{body}"
    );
    let escape = format!("kestra:///tests/api/upload/executions/{id}/../../secret");
    let (status, body) = api
        .get(&format!("/executions/{id}/file?path={escape}"))
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let unknown = "0195f4a4-0000-7000-8000-000000000000";
    let (status, body) = api
        .get(&format!(
            "/executions/{unknown}/file?path=kestra:///tests/api/upload/executions/{unknown}/x"
        ))
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains(unknown),
        "{body}"
    );
    api.stop().await
}
