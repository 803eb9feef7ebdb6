//! `baton server local` as a newcomer runs it: one process, nothing else installed; a flow
//! deployed and executed over HTTP; SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The server process, stopped however the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const FLOW: &str = r#"
id: hello
namespace: tests.local
inputs:
  - id: who
    type: STRING
    defaults: world
tasks:
  - id: greet
    type: io.kestra.plugin.core.debug.Return
    format: "hello {{ inputs.who }}"
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "{{ outputs.greet.value }}"
"#;

/// Starts `baton server local` with extra arguments; returns the process and its base URL,
/// and forwards stderr lines to `lines`.
fn start_local(
    dir: &std::path::Path,
    extra: &[&str],
    lines: std::sync::mpsc::Sender<String>,
) -> anyhow::Result<(Server, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args([
            "server",
            "local",
            "--listen",
            "127.0.0.1:0",
            "--slots",
            "2",
            "--data-dir",
        ])
        .arg(dir.join(".baton"))
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped stderr");
    let server = Server(child);
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(address) = line.strip_prefix("baton is listening on ") {
                let _ = address_tx.send(address.to_owned());
            }
            let _ = lines.send(line);
        }
    });
    let base = address_rx.recv_timeout(Duration::from_secs(20))?;
    Ok((server, base))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_server_deploys_the_flows_folder_and_follows_its_changes() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("baton-local-flows-{}", std::process::id()));
    let flows = dir.join("flows");
    std::fs::create_dir_all(flows.join("nested"))?;
    std::fs::write(flows.join("hello.yaml"), FLOW)?;
    std::fs::write(
        flows.join("nested/broken.yml"),
        "id: broken\nnamespace: tests.local\ntasks:\n  - id: x\n    type: nope\n",
    )?;
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let (_server, base) = start_local(&dir, &["--flows-dir", flows.to_str().unwrap()], lines_tx)?;
    let http = reqwest::Client::new();
    let flow: serde_json::Value = http
        .get(format!("{base}/api/v1/flows/tests.local/hello"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(flow["revision"], 1, "{flow}");
    let missing = http
        .get(format!("{base}/api/v1/flows/tests.local/broken"))
        .send()
        .await?;
    assert_eq!(missing.status(), 404, "an invalid file deploys nothing");
    let mut stderr = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
        stderr.push(line);
    }
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("broken.yml:5:11: unknown task type 'nope'")),
        "{stderr:#?}"
    );

    // An edited file is redeployed as a new revision within a few seconds.
    std::fs::write(
        flows.join("hello.yaml"),
        FLOW.replace("hello {{ inputs.who }}", "hi {{ inputs.who }}"),
    )?;
    let mut revision = serde_json::Value::Null;
    for _ in 0..100 {
        let flow: serde_json::Value = http
            .get(format!("{base}/api/v1/flows/tests.local/hello"))
            .send()
            .await?
            .json()
            .await?;
        revision = flow["revision"].clone();
        if revision == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(revision, 2);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_server_runs_a_flow_and_stops_on_sigterm() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("baton-local-{}", std::process::id()));
    let (lines, _) = std::sync::mpsc::channel();
    let (mut server, base) = start_local(&dir, &[], lines)?;
    let http = reqwest::Client::new();

    let deployed = http
        .post(format!("{base}/api/v1/flows"))
        .header("content-type", "application/x-yaml")
        .body(FLOW)
        .send()
        .await?;
    assert!(deployed.status().is_success(), "{}", deployed.text().await?);
    let created: serde_json::Value = http
        .post(format!("{base}/api/v1/executions/tests.local/hello"))
        .json(&serde_json::json!({"who": "newcomer"}))
        .send()
        .await?
        .json()
        .await?;
    let id = created["id"].as_str().expect("execution id").to_owned();
    let mut execution = serde_json::Value::Null;
    for _ in 0..300 {
        execution = http
            .get(format!("{base}/api/v1/executions/{id}"))
            .send()
            .await?
            .json()
            .await?;
        if execution["state"] == "SUCCESS" || execution["state"] == "FAILED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(execution["state"], "SUCCESS", "{execution:#}");
    let logs: serde_json::Value = http
        .get(format!("{base}/api/v1/logs/{id}"))
        .send()
        .await?
        .json()
        .await?;
    let text = logs.to_string();
    assert!(text.contains("hello newcomer"), "{text}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    let mut status = None;
    for _ in 0..100 {
        status = server.0.try_wait()?;
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status.map(|s| s.code()),
        Some(Some(0)),
        "SIGTERM stops the server cleanly"
    );
    assert!(
        dir.join(".baton/baton.db").exists(),
        "the store lives in the data dir"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
