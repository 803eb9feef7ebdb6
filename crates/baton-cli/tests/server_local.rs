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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_server_runs_a_flow_and_stops_on_sigterm() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("baton-local-{}", std::process::id()));
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
        .arg(&dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped stderr");
    let mut server = Server(child);
    // The server prints its address once it listens (port 0 picks a free one).
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(address) = line.strip_prefix("baton is listening on ") {
                let _ = address_tx.send(address.to_owned());
            }
        }
    });
    let base = address_rx.recv_timeout(Duration::from_secs(20))?;
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
        dir.join("baton.db").exists(),
        "the store lives in the data dir"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
