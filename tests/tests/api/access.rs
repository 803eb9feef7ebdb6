//! Kestra's tenant paths and basic auth.

use super::support::*;

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
