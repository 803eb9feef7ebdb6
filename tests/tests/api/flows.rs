//! Flows over the API: YAML deploys, updates, imports, validation.

use super::support::*;

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
