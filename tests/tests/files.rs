//! Files end to end, through real `baton` processes and the REST API: a task's output file read
//! by the next task, a FILE input uploaded with the execution, downloads, a glob that matches
//! nothing, a purge. Once on `baton server local`, once as separate webserver, executor and
//! worker processes on Postgres that share a storage directory.

use std::path::Path;
use std::time::Duration;

use baton_tests::TOKEN;
use baton_tests::process::BatonProcess;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

const PIPELINE: &str = r#"
id: pipeline
namespace: tests.files
tasks:
  - id: first
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles:
      - "*.csv"
    commands:
      - printf 'id,name\n1,ada\n2,grace\n' > data.csv
  - id: second
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    inputFiles:
      in.csv: "{{ outputs.first.outputFiles['data.csv'] }}"
    commands:
      - echo "rows $(wc -l < in.csv)"
  - id: peek
    type: io.kestra.plugin.core.log.Log
    message: "read {{ read(outputs.first.outputFiles['data.csv']) | trim | replace({'\n': ' '}) }}"
"#;

const UPLOAD: &str = r#"
id: upload
namespace: tests.files
inputs:
  - id: orders
    type: FILE
tasks:
  - id: show
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    inputFiles:
      orders.csv: "{{ inputs.orders }}"
    commands:
      - echo "got $(cat orders.csv)"
"#;

const NO_MATCH: &str = r#"
id: no_match
namespace: tests.files
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles:
      - "*.parquet"
    commands:
      - echo no parquet here
"#;

const PURGE: &str = r#"
id: purge
namespace: tests.files
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles:
      - out.txt
    commands:
      - echo kept until the purge > out.txt
  - id: purge
    type: io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles
"#;

struct Client {
    api: String,
    http: reqwest::Client,
}

impl Client {
    fn new(base_url: &str) -> anyhow::Result<Client> {
        Ok(Client {
            api: format!("{base_url}/api/v1"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        })
    }

    async fn deploy(&self, flow: &str) -> anyhow::Result<()> {
        baton_tests::rest::deploy_flow(&self.http, &self.api, flow).await
    }

    /// Runs a flow of `tests.files` to its end (`?wait=true`); returns the execution.
    async fn run(&self, flow: &str, form: Option<Form>) -> anyhow::Result<Value> {
        let request = self.http.post(format!(
            "{}/executions/tests.files/{flow}?wait=true",
            self.api
        ));
        let request = match form {
            Some(form) => request.multipart(form),
            None => request,
        };
        let response = request.send().await?;
        anyhow::ensure!(
            response.status() == StatusCode::OK,
            "{}",
            response.text().await?
        );
        Ok(response.json().await?)
    }

    async fn log_lines(&self, id: &str) -> anyhow::Result<Vec<String>> {
        let logs: Value = self
            .http
            .get(format!("{}/logs/{id}", self.api))
            .send()
            .await?
            .json()
            .await?;
        Ok(logs["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|line| line["message"].as_str().map(str::to_owned))
            .collect())
    }

    /// `GET /executions/{id}/file?path=` (or `/file/metas`): the status and the body.
    async fn file(&self, id: &str, what: &str, uri: &str) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let response = self
            .http
            .get(format!("{}/executions/{id}/{what}", self.api))
            .query(&[("path", uri)])
            .send()
            .await?;
        Ok((response.status(), response.bytes().await?.to_vec()))
    }
}

fn output_file(execution: &Value, task: &str, name: &str) -> String {
    let run = execution["taskRuns"]
        .as_array()
        .and_then(|runs| runs.iter().find(|run| run["taskId"] == task))
        .unwrap_or_else(|| panic!("no task run of {task}: {execution}"));
    run["outputs"]["outputFiles"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no output file {name} of {task}: {execution}"))
        .to_owned()
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// The whole story against a running Baton whose storage directory is `storage`.
async fn files_work_end_to_end(base_url: &str, storage: &Path) -> anyhow::Result<()> {
    let client = Client::new(base_url)?;
    for flow in [PIPELINE, UPLOAD, NO_MATCH, PURGE] {
        client.deploy(flow).await?;
    }

    // An output file read by the next task (inputFiles) and by a template (read()).
    let pipeline = client.run("pipeline", None).await?;
    assert_eq!(pipeline["state"], "SUCCESS", "{pipeline}");
    let id = pipeline["id"].as_str().unwrap().to_owned();
    let data = output_file(&pipeline, "first", "data.csv");
    let first_run = pipeline["taskRuns"][0]["id"].as_str().unwrap();
    assert_eq!(
        data,
        format!("kestra:///tests/files/pipeline/executions/{id}/tasks/first/{first_run}/data.csv")
    );
    let lines = client.log_lines(&id).await?;
    assert!(lines.contains(&"rows 3".to_owned()), "{lines:?}");
    assert!(
        lines.contains(&"read id,name 1,ada 2,grace".to_owned()),
        "{lines:?}"
    );
    let csv = b"id,name\n1,ada\n2,grace\n";
    assert_eq!(
        client.file(&id, "file", &data).await?,
        (StatusCode::OK, csv.to_vec())
    );
    let (status, metas) = client.file(&id, "file/metas", &data).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&metas)?,
        serde_json::json!({"size": csv.len()})
    );

    // A FILE input uploaded with the execution, read by a task.
    let orders = b"order-1,order-2".to_vec();
    let form = Form::new().part(
        "orders",
        Part::bytes(orders.clone()).file_name("orders.csv"),
    );
    let upload = client.run("upload", Some(form)).await?;
    assert_eq!(upload["state"], "SUCCESS", "{upload}");
    let upload_id = upload["id"].as_str().unwrap().to_owned();
    let input = upload["inputs"]["orders"].as_str().unwrap().to_owned();
    assert_eq!(
        input,
        format!("kestra:///tests/files/upload/executions/{upload_id}/inputs/orders/orders.csv")
    );
    let lines = client.log_lines(&upload_id).await?;
    assert!(
        lines.contains(&"got order-1,order-2".to_owned()),
        "{lines:?}"
    );
    assert_eq!(
        client.file(&upload_id, "file", &input).await?,
        (StatusCode::OK, orders)
    );
    // Only files of the execution named in the path are served.
    assert_eq!(
        client.file(&upload_id, "file", &data).await?.0,
        StatusCode::NOT_FOUND
    );
    let missing = format!("kestra:///tests/files/upload/executions/{upload_id}/inputs/x/none");
    assert_eq!(
        client.file(&upload_id, "file/metas", &missing).await?.0,
        StatusCode::NOT_FOUND
    );

    // A glob that matches nothing fails the task, saying which glob.
    let no_match = client.run("no_match", None).await?;
    assert_eq!(no_match["state"], "FAILED", "{no_match}");
    let message = "outputFiles: no file in the working directory matches '*.parquet'";
    assert_eq!(no_match["taskRuns"][0]["error"], message, "{no_match}");
    let lines = client.log_lines(no_match["id"].as_str().unwrap()).await?;
    assert!(lines.contains(&message.to_owned()), "{lines:?}");

    // A purge leaves nothing of its execution in storage.
    let purged = client.run("purge", None).await?;
    assert_eq!(purged["state"], "SUCCESS", "{purged}");
    let purged_id = purged["id"].as_str().unwrap();
    let out = output_file(&purged, "make", "out.txt");
    assert_eq!(
        purged["taskRuns"][1]["outputs"]["uris"],
        serde_json::json!([out])
    );
    let folder = storage.join(format!("tests/files/purge/executions/{purged_id}"));
    assert!(!folder.exists(), "{} is still there", folder.display());
    assert_eq!(
        client.file(purged_id, "file", &out).await?.0,
        StatusCode::NOT_FOUND
    );
    // The other executions' files are untouched.
    let kept = files_under(&storage.join("tests/files"));
    assert_eq!(kept.len(), 2, "{kept:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_on_server_local() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join(".baton");
    let server = BatonProcess::spawn(
        &[
            "server",
            "local",
            "--listen",
            "127.0.0.1:0",
            "--slots",
            "2",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--flows-dir",
            dir.path().join("no-flows").to_str().unwrap(),
        ],
        &[],
        true,
    )?;
    let url = server.url.clone().expect("server url");
    files_work_end_to_end(&url, &data_dir.join("storage")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_across_separate_processes_sharing_a_storage_directory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let storage = dir.path().join("shared-storage");
    let storage_env = storage.to_str().unwrap();
    let database_url = baton_store::testing::PgServer::get()
        .fresh_database_url()
        .await;
    let server = |role: &str| {
        BatonProcess::spawn(
            &["server", role, "--listen", "127.0.0.1:0"],
            &[
                ("BATON_DATABASE_URL", database_url.as_str()),
                ("BATON_WORKER_TOKEN", TOKEN),
                ("BATON_STORAGE", storage_env),
            ],
            true,
        )
    };
    let web = server("webserver")?;
    let executor = server("executor")?;
    let executor_url = executor.url.clone().expect("executor url");
    let _worker = BatonProcess::spawn(
        &[
            "server",
            "worker",
            "--executor",
            &executor_url,
            "--slots",
            "2",
        ],
        &[
            ("BATON_WORKER_TOKEN", TOKEN),
            ("BATON_STORAGE", storage_env),
        ],
        false,
    )?;
    let url = web.url.clone().expect("webserver url");
    files_work_end_to_end(&url, &storage).await
}
