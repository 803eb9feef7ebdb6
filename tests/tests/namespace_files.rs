//! Namespace files end to end, against a real `baton server local` process: stored, listed,
//! read, moved and deleted through Kestra's REST API, then used by flows — copied into a
//! Process-runner shell task's working directory (`namespaceFiles` with include/exclude), read
//! by `read('path')`, and copied into a Docker container (`python:3.11-slim`, a local image).
//! Bad input: a path with `..`, a missing file.

use std::time::Duration;

use baton_tests::process::BatonProcess;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

const NAMESPACE: &str = "tests.nsfiles";

const SHELL: &str = r#"
id: shell
namespace: tests.nsfiles
tasks:
  - id: run
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    namespaceFiles:
      enabled: true
      include:
        - "scripts/**"
        - "*.sql"
      exclude:
        - "**/secret.*"
    commands:
      - sh scripts/greet.sh
      - echo "sql $(cat queries/daily.sql)"
      - test ! -e scripts/secret.txt && echo "secret excluded"
      - test ! -e notes.md && echo "notes not included"
  - id: query
    type: io.kestra.plugin.core.log.Log
    message: "read {{ read('queries/daily.sql') }}"
"#;

const MISSING: &str = r#"
id: missing
namespace: tests.nsfiles
tasks:
  - id: query
    type: io.kestra.plugin.core.log.Log
    message: "{{ read('queries/none.sql') }}"
"#;

const ESCAPE: &str = r#"
id: escape
namespace: tests.nsfiles
tasks:
  - id: query
    type: io.kestra.plugin.core.log.Log
    message: "{{ read('../other/_files/x.sql') }}"
"#;

const DOCKER: &str = r#"
id: docker
namespace: tests.nsfiles
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Commands
    containerImage: python:3.11-slim
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
      pullPolicy: NEVER
    namespaceFiles:
      enabled: true
      include:
        - "*.py"
    commands:
      - python scripts/hello.py
"#;

struct Client {
    api: String,
    http: reqwest::Client,
}

impl Client {
    fn files_url(&self, what: &str) -> String {
        format!("{}/namespaces/{NAMESPACE}/files{what}", self.api)
    }

    async fn put(&self, path: &str, content: &str) -> anyhow::Result<StatusCode> {
        let form = Form::new().part(
            "fileContent",
            Part::bytes(content.as_bytes().to_vec()).file_name("upload"),
        );
        let response = self
            .http
            .post(self.files_url(""))
            .query(&[("path", path)])
            .multipart(form)
            .send()
            .await?;
        Ok(response.status())
    }

    async fn get(&self, what: &str, path: &str) -> anyhow::Result<(StatusCode, String)> {
        let response = self
            .http
            .get(self.files_url(what))
            .query(&[("path", path)])
            .send()
            .await?;
        Ok((response.status(), response.text().await?))
    }

    async fn deploy(&self, flow: &str) -> anyhow::Result<()> {
        baton_tests::rest::deploy_flow(&self.http, &self.api, flow).await
    }

    /// Runs a flow to its end; returns the execution and its log lines.
    async fn run(&self, flow: &str) -> anyhow::Result<(Value, Vec<String>)> {
        let response = self
            .http
            .post(format!(
                "{}/executions/{NAMESPACE}/{flow}?wait=true",
                self.api
            ))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::OK,
            "{}",
            response.text().await?
        );
        let execution: Value = response.json().await?;
        let id = execution["id"].as_str().unwrap_or_default();
        let logs: Value = self
            .http
            .get(format!("{}/logs/{id}", self.api))
            .send()
            .await?
            .json()
            .await?;
        let lines = logs["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|line| line["message"].as_str().map(str::to_owned))
            .collect();
        Ok((execution, lines))
    }
}

fn start_server(dir: &std::path::Path) -> anyhow::Result<(BatonProcess, Client)> {
    let server = BatonProcess::spawn(
        &[
            "server",
            "local",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.join(".baton").to_str().unwrap(),
            "--flows-dir",
            dir.join("no-flows").to_str().unwrap(),
        ],
        &[],
        true,
    )?;
    let url = server.url.clone().expect("server url");
    let client = Client {
        api: format!("{url}/api/v1/main"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?,
    };
    Ok((server, client))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_files_through_the_api_and_in_a_process_task() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, client) = start_server(dir.path())?;

    // An empty namespace lists empty.
    let (status, listed) = client.get("/directory", "/").await?;
    assert_eq!((status, listed.as_str()), (StatusCode::OK, "[]"));

    for (path, content) in [
        (
            "/scripts/greet.sh",
            "echo \"hello from a namespace file\"\n",
        ),
        ("/scripts/secret.txt", "do not copy\n"),
        ("/queries/daily.sql", "select 1"),
        ("/notes.md", "# notes\n"),
        ("/draft.txt", "to be moved"),
    ] {
        assert_eq!(client.put(path, content).await?, StatusCode::OK, "{path}");
    }

    let (status, listed) = client.get("/directory", "/").await?;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<Value> = serde_json::from_str(&listed)?;
    let names: Vec<(&str, &str)> = listed
        .iter()
        .map(|e| (e["fileName"].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("queries", "Directory"),
            ("scripts", "Directory"),
            ("draft.txt", "File"),
            ("notes.md", "File"),
        ]
    );
    assert_eq!(listed[3]["size"], json!(8));
    let (_, scripts) = client.get("/directory", "/scripts").await?;
    assert!(scripts.contains(r#""fileName":"greet.sh""#), "{scripts}");

    let (status, content) = client.get("", "/queries/daily.sql").await?;
    assert_eq!((status, content.as_str()), (StatusCode::OK, "select 1"));
    let (status, stats) = client.get("/stats", "/queries").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(stats.contains(r#""type":"Directory""#), "{stats}");

    // Move, then delete.
    let response = client
        .http
        .put(client.files_url(""))
        .query(&[("from", "/draft.txt"), ("to", "/archive/draft.txt")])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        client.get("", "/archive/draft.txt").await?,
        (StatusCode::OK, "to be moved".to_owned())
    );
    let response = client
        .http
        .delete(client.files_url(""))
        .query(&[("path", "/archive")])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // Bad input: a missing file, a path that climbs out, no path.
    let (status, body) = client.get("", "/archive/draft.txt").await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("no file /archive/draft.txt"), "{body}");
    let (status, body) = client.get("", "/../../etc/passwd").await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("'..' is not allowed"), "{body}");
    assert_eq!(
        client.put("/a/../../b.txt", "x").await?,
        StatusCode::BAD_REQUEST
    );
    let (status, _) = client.get("/directory", "/nowhere").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = client.http.get(client.files_url("")).send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A flow gets the files it includes, not the excluded or unlisted ones.
    for flow in [SHELL, MISSING, ESCAPE] {
        client.deploy(flow).await?;
    }
    let (execution, logs) = client.run("shell").await?;
    assert_eq!(execution["state"], "SUCCESS", "{execution} {logs:?}");
    for expected in [
        "hello from a namespace file",
        "sql select 1",
        "secret excluded",
        "notes not included",
        "read select 1",
    ] {
        assert!(logs.iter().any(|l| l == expected), "{expected}: {logs:?}");
    }

    // The error is the task run's (and may be logged too).
    let (execution, logs) = client.run("missing").await?;
    assert_eq!(execution["state"], "FAILED", "{execution}");
    let seen = format!("{execution} {logs:?}");
    assert!(
        seen.contains("no namespace file queries/none.sql in namespace tests.nsfiles"),
        "{seen}"
    );
    let (execution, logs) = client.run("escape").await?;
    assert_eq!(execution["state"], "FAILED", "{execution}");
    let seen = format!("{execution} {logs:?}");
    assert!(seen.contains("'..' is not allowed"), "{seen}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_files_reach_a_docker_container() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, client) = start_server(dir.path())?;
    let script = "import pathlib\n\
        names = sorted(str(p) for p in pathlib.Path('.').rglob('*') if p.parts[0] in ('scripts', 'lib', 'data.csv'))\n\
        print('python sees', names)\n";
    assert_eq!(
        client.put("/scripts/hello.py", script).await?,
        StatusCode::OK
    );
    assert_eq!(client.put("/lib/util.py", "X = 1\n").await?, StatusCode::OK);
    assert_eq!(client.put("/data.csv", "a,b\n").await?, StatusCode::OK);
    client.deploy(DOCKER).await?;
    let (execution, logs) = client.run("docker").await?;
    assert_eq!(execution["state"], "SUCCESS", "{execution} {logs:?}");
    assert!(
        logs.iter()
            .any(|l| l == "python sees ['lib', 'lib/util.py', 'scripts', 'scripts/hello.py']"),
        "{logs:?}"
    );
    Ok(())
}
