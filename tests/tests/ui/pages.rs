//! The UI's pages over HTTP: what each one shows and what its forms do, against a test
//! cluster (real store, executor and workers).

use baton_webserver::{ApiOptions, BasicAuth};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::support::{FORM_FLOW, FormBody, Ui, location};

const SIMPLE: &str = "id: simple\nnamespace: tests.ui\ntasks:\n  - id: only\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_basic_auth_pages_need_a_login_and_the_session_opens_the_api() -> anyhow::Result<()> {
    let ui = Ui::start(ApiOptions {
        basic_auth: Some(BasicAuth {
            username: "admin".into(),
            password: "s3cret:pw".into(),
        }),
        ..ApiOptions::default()
    })
    .await?;
    let root = ui.http.get(ui.url("/")).send().await?;
    assert_eq!(root.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&root), "/ui/flows");
    let page = ui
        .http
        .get(ui.url("/ui/executions?state=FAILED"))
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&page),
        "/ui/login?next=/ui/executions%3Fstate%3DFAILED"
    );
    let (status, _) = ui.get("/ui/assets/app.css").await?;
    assert_eq!(status, StatusCode::OK, "assets need no login");
    let (status, form) = ui.get("/ui/login?next=/ui/flows").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains(r#"name="password""#));

    let login = |password: &str| {
        ui.http
            .post(ui.url("/ui/login"))
            .urlencoded(&[
                ("username", "admin"),
                ("password", password),
                ("next", "/ui/executions"),
            ])
            .send()
    };
    let refused = login("wrong").await?;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        refused
            .text()
            .await?
            .contains("Wrong user name or password")
    );
    let accepted = login("s3cret:pw").await?;
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&accepted), "/ui/executions");
    let cookie = accepted
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_owned();

    let with_session = |path: &str| ui.http.get(ui.url(path)).header("cookie", &session).send();
    assert_eq!(with_session("/ui/flows").await?.status(), StatusCode::OK);
    assert_eq!(
        with_session("/api/v1/flows/search").await?.status(),
        StatusCode::OK,
        "the UI's scripts call the API with the session"
    );
    let mut forged = session.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let refused = ui
        .http
        .get(ui.url("/api/v1/flows/search"))
        .header("cookie", forged)
        .send()
        .await?;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let basic = ui
        .http
        .get(ui.url("/ui/flows"))
        .basic_auth("admin", Some("s3cret:pw"))
        .send()
        .await?;
    assert_eq!(
        basic.status(),
        StatusCode::OK,
        "Basic credentials open pages too"
    );
    let logout = ui
        .http
        .post(ui.url("/ui/logout"))
        .header("cookie", &session)
        .send()
        .await?;
    assert!(
        location(&logout) == "/ui/login"
            && logout.headers()["set-cookie"]
                .to_str()?
                .contains("Max-Age=0")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_a_broken_flow_keeps_the_text_and_shows_every_diagnostic_at_its_position()
-> anyhow::Result<()> {
    let ui = Ui::start(ApiOptions::default()).await?;
    let broken = "id: edited\nnamespace: tests.ui\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Lgo\n    message: one\n  - id: b\n    type: io.kestra.plugin.core.log.Log\n    mesage: <two>\n";
    let response = ui
        .http
        .post(ui.url("/ui/flows/new"))
        .urlencoded(&[("source", broken)])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await?;
    // The positions the API's validator gives are the ones the editor lists.
    let verdicts: Value = ui
        .http
        .post(ui.url("/api/v1/flows/validate"))
        .body(broken)
        .send()
        .await?
        .json()
        .await?;
    let diagnostics = verdicts[0]["diagnostics"].as_array().unwrap();
    assert!(diagnostics.len() >= 2, "{diagnostics:?}");
    for d in diagnostics {
        let link = format!(
            r#"data-line="{}" data-column="{}">{}:{}</a>"#,
            d["line"], d["column"], d["line"], d["column"]
        );
        assert!(page.contains(&link), "{link} missing");
    }
    assert!(
        page.contains("    mesage: &#60;two&#62;\n</textarea>"),
        "the text typed is kept, escaped"
    );

    let fixed = broken.replace("Lgo", "Log").replace("mesage", "message");
    let saved = ui
        .http
        .post(ui.url("/ui/flows/new"))
        .urlencoded(&[("source", fixed.as_str())])
        .send()
        .await?;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&saved), "/ui/flows/tests.ui/edited");
    let (status, page) = ui.get("/ui/flows/tests.ui/edited").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<span class="key">message</span>"#),
        "highlighted"
    );
    assert!(
        page.contains(r#"data-task="a""#) && page.contains(r#"data-task="b""#),
        "graph"
    );

    let renamed = fixed.replace("namespace: tests.ui", "namespace: tests.other");
    let refused = ui
        .http
        .post(ui.url("/ui/flows/tests.ui/edited/edit"))
        .urlencoded(&[("source", renamed.as_str())])
        .send()
        .await?;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await?.contains("cannot change"));

    let second = fixed.replace("message: one", "message: uno");
    let saved = ui
        .http
        .post(ui.url("/ui/flows/tests.ui/edited/edit"))
        .urlencoded(&[("source", second.as_str())])
        .send()
        .await?;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (_, revisions) = ui.get("/ui/flows/tests.ui/edited/revisions").await?;
    assert!(revisions.contains("Revision 1 → 2"));
    assert!(revisions.contains(r#"<tr class="del">"#) && revisions.contains("-     message: one"));
    assert!(revisions.contains(r#"<tr class="add">"#) && revisions.contains("+     message: uno"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_execute_form_draws_each_input_and_puts_errors_beside_their_field() -> anyhow::Result<()>
{
    let ui = Ui::start(ApiOptions::default()).await?;
    ui.cluster.deploy(FORM_FLOW).await?;
    let (status, form) = ui.get("/ui/flows/tests.ui/form/execute").await?;
    assert_eq!(status, StatusCode::OK);
    for widget in [
        r#"<label for="field-region">Region"#,
        r#"<option value="eu-west" selected>eu-west</option>"#,
        r#"<div class="array" data-array id="field-tags""#,
        r#"type="checkbox" id="field-dry-run" name="input.dry_run" value="true""#,
        r#"type="number" id="field-count" name="input.count" value="3""#,
        r#"type="file" id="field-report" name="input.report""#,
        r#"<label for="field-owner">owner <span class="required""#,
    ] {
        assert!(form.contains(widget), "{widget} missing");
    }

    let submit = |form: Form| {
        ui.http
            .post(ui.url("/ui/flows/tests.ui/form/execute"))
            .multipart(form)
            .send()
    };
    let missing_owner = submit(
        Form::new()
            .text("input.region", "us-east")
            .text("input.tags", "kept")
            .text("input.owner", ""),
    )
    .await?;
    assert_eq!(missing_owner.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = missing_owner.text().await?;
    let owner_field = page
        .split(r#"data-field="input.owner""#)
        .nth(1)
        .and_then(|rest| rest.split("data-field=").next())
        .expect("the owner field");
    assert!(
        owner_field.contains(r#"class="field-error""#),
        "{owner_field}"
    );
    assert!(
        page.contains(r#"<option value="us-east" selected>"#),
        "choices kept"
    );
    assert!(
        page.contains(r#"name="input.tags" value="kept""#),
        "items kept"
    );

    // A file is stored in internal storage and the input holds its URI; a refused form
    // removes what it uploaded (the next attempt sends the file again).
    let refused_with_file = submit(
        Form::new()
            .text("input.count", "many")
            .text("input.owner", "ana")
            .part(
                "input.report",
                Part::bytes(b"a,b\n".to_vec()).file_name("r.csv"),
            ),
    )
    .await?;
    assert_eq!(refused_with_file.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused_with_file
            .text()
            .await?
            .contains(r#"id="field-count-error""#)
    );
    let with_file = submit(Form::new().text("input.owner", "ana").part(
        "input.report",
        Part::bytes(b"a,b\n1,2\n".to_vec()).file_name("r.csv"),
    ))
    .await?;
    assert_eq!(with_file.status(), StatusCode::SEE_OTHER);
    let id = location(&with_file)
        .trim_start_matches("/ui/executions/")
        .to_owned();
    let execution = ui.cluster.wait_until_ended(&id).await?;
    let report = execution.inputs["report"].as_str().unwrap_or_default();
    assert!(
        report.starts_with("kestra:///") && report.ends_with("/r.csv"),
        "{report}"
    );
    let size = execution
        .task_runs
        .iter()
        .find(|r| r.task_id == "size")
        .unwrap();
    assert_eq!(
        size.outputs["value"],
        json!("8"),
        "the task read the uploaded file"
    );
    let (_, page) = ui.get(&format!("/ui/executions/{id}")).await?;
    assert!(
        page.contains(report),
        "the execution page shows the file input"
    );

    let created = submit(
        Form::new()
            .text("input.region", "ap-south")
            .text("input.tags", "a")
            .text("input.tags", "")
            .text("input.tags", "b")
            .text("input.dry_run", "false")
            .text("input.dry_run", "true")
            .text("input.count", "3")
            .text("input.owner", "ana")
            .part("input.report", Part::bytes(Vec::new()).file_name(""))
            .text("labels", "team:data\nenv:test"),
    )
    .await?;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let id = location(&created)
        .strip_prefix("/ui/executions/")
        .expect("the execution page")
        .to_owned();
    let execution = ui.cluster.wait_until_ended(&id).await?;
    assert_eq!(execution.state.as_str(), "SUCCESS");
    assert_eq!(
        Value::Object(execution.inputs.clone()),
        json!({"region": "ap-south", "tags": ["a", "b"], "dry_run": true, "count": 3, "owner": "ana", "report": null})
    );
    assert_eq!(execution.labels["team"], "data");
    assert_eq!(execution.labels["env"], "test");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executions_list_pages_by_cursor_and_filters() -> anyhow::Result<()> {
    let ui = Ui::start(ApiOptions::default()).await?;
    ui.cluster.deploy(SIMPLE).await?;
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(ui.cluster.execute("tests.ui", "simple", &[]).await?);
    }
    for id in &ids {
        ui.cluster.wait_until_ended(id).await?;
    }
    let rows = |page: &str| {
        page.matches(r#"<a class="mono" href="/ui/executions/"#)
            .count()
    };
    let (status, first) = ui.get("/ui/executions?flowId=simple").await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&first), 25);
    assert!(first.contains(ids.last().unwrap()), "newest first");
    let next = first
        .split(r#"<a class="button" href=""#)
        .filter_map(|part| part.split('"').next())
        .find(|href| href.contains("after="))
        .expect("a link to the older page")
        .replace("&#38;", "&");
    assert!(
        next.contains("flowId=simple") && next.contains("after="),
        "{next}"
    );
    let (_, second) = ui.get(&next).await?;
    assert_eq!(rows(&second), 5, "{next}");
    assert!(second.contains(&ids[0]) && !second.contains("after="));

    let (_, failed) = ui.get("/ui/executions?state=FAILED").await?;
    assert_eq!(rows(&failed), 0);
    assert!(failed.contains("No execution matches"));
    let (_, success) = ui
        .get("/ui/executions?state=SUCCESS&namespace=tests.ui&size=3")
        .await?;
    assert_eq!(rows(&success), 3);
    let (_, fragment) = ui.get("/ui/executions?fragment=rows&size=2").await?;
    assert_eq!(rows(&fragment), 2);
    assert!(!fragment.contains("<html"));
    let (status, _) = ui.get("/ui/executions?labels=nocolon").await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_page_shows_its_timeline_graph_and_outputs() -> anyhow::Result<()> {
    let ui = Ui::start(ApiOptions::default()).await?;
    ui.cluster.deploy(FORM_FLOW).await?;
    let id = ui
        .cluster
        .execute("tests.ui", "form", &[("owner", "ana"), ("count", "21")])
        .await?;
    let execution = ui.cluster.wait_until_ended(&id).await?;
    let (status, page) = ui.get(&format!("/ui/executions/{id}")).await?;
    assert_eq!(status, StatusCode::OK);
    for run in &execution.task_runs {
        assert!(
            page.contains(&format!(r#"data-taskrun="{}""#, run.id)),
            "gantt row of {}",
            run.task_id
        );
    }
    assert!(page.contains(r#"class="node st-success" data-task="answer""#));
    assert!(
        page.contains(r#"<span class="k">value</span>: <span class="v-str">42</span>"#),
        "outputs"
    );
    assert!(page.contains(&format!(r#"data-logs="/api/v1/logs/{id}/follow""#)));
    let (status, live) = ui.get(&format!("/ui/executions/{id}/live")).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(live.contains(r#"data-state="SUCCESS""#) && !live.contains("<html"));
    let (status, _) = ui.get("/ui/executions/not-an-id").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_list_kv_pages_and_toggling_a_flow() -> anyhow::Result<()> {
    let ui = Ui::start(ApiOptions::default()).await?;
    ui.cluster.deploy(SIMPLE).await?;
    ui.cluster
        .deploy(
            &SIMPLE
                .replace("id: simple", "id: other")
                .replace("tests.ui", "tests.ui.sub"),
        )
        .await?;
    let id = ui.cluster.execute("tests.ui", "simple", &[]).await?;
    ui.cluster.wait_until_ended(&id).await?;
    let (_, list) = ui.get("/ui/flows").await?;
    assert!(list.contains(&format!(
        r#"<a class="badge st-success" href="/ui/executions/{id}">SUCCESS</a>"#
    )));
    assert!(
        list.contains(r#"title="tests.ui.sub">sub</a> <span class="muted">1</span>"#),
        "namespace tree"
    );
    let (_, searched) = ui.get("/ui/flows?q=OTH").await?;
    assert!(
        searched.contains(r#"href="/ui/flows/tests.ui.sub/other""#)
            && !searched.contains(r#"href="/ui/flows/tests.ui/simple""#)
    );
    let (_, narrowed) = ui.get("/ui/flows?namespace=tests.ui.sub").await?;
    assert!(!narrowed.contains(r#"href="/ui/flows/tests.ui/simple""#));

    let toggled = ui
        .http
        .post(ui.url("/ui/flows/tests.ui/simple/toggle"))
        .send()
        .await?;
    assert_eq!(toggled.status(), StatusCode::SEE_OTHER);
    assert!(
        ui.cluster
            .store
            .get_flow("tests.ui", "simple", None)
            .await?
            .disabled
    );
    let (_, form) = ui.get("/ui/flows/tests.ui/simple/execute").await?;
    assert!(form.contains("This flow is disabled"));

    let set = |key: &str, value: &str, ttl: &str| {
        ui.http
            .post(ui.url("/ui/namespaces/tests.ui"))
            .urlencoded(&[("key", key), ("value", value), ("ttl", ttl)])
            .send()
    };
    assert_eq!(
        set("conf", r#"{"x": 1}"#, "").await?.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        set("name", "plain text", "PT1H").await?.status(),
        StatusCode::SEE_OTHER
    );
    let store = &ui.cluster.store;
    assert_eq!(
        store.kv_get("tests.ui", "conf").await?.unwrap().value,
        json!({"x": 1})
    );
    let named = store.kv_get("tests.ui", "name").await?.unwrap();
    assert_eq!(named.value, json!("plain text"));
    assert!(named.expires_at.is_some());
    let bad = set("x", "1", "an hour").await?;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await?.contains("time to live"));
    let (_, page) = ui.get("/ui/namespaces/tests.ui").await?;
    assert!(page.contains(r#"<td class="mono">conf</td>"#) && page.contains("plain text"));
    let deleted = ui
        .http
        .post(ui.url("/ui/namespaces/tests.ui/kv/conf/delete"))
        .send()
        .await?;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(store.kv_get("tests.ui", "conf").await?.is_none());
    let (_, namespaces) = ui.get("/ui/namespaces").await?;
    assert!(namespaces.contains(r#"href="/ui/namespaces/tests.ui.sub""#));
    Ok(())
}
