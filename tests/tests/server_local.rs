//! `baton server local` flags as the README and Kestra users write them.

use baton_tests::process::{BatonProcess, baton_binary};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_listens_on_that_port_of_localhost() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A port nobody holds now; the server takes it a moment later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let port_arg = port.to_string();
    let data_dir = dir.path().join(".baton");
    let server = BatonProcess::spawn(
        &[
            "server",
            "local",
            "--port",
            &port_arg,
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--flows-dir",
            dir.path().join("flows").to_str().unwrap(),
        ],
        &[],
        true,
    )?;
    assert_eq!(
        server.url.as_deref(),
        Some(&*format!("http://127.0.0.1:{port}"))
    );
    let health = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/health")).await?;
    assert!(health.status().is_success(), "{}", health.status());

    // Both --port and --listen: refused, naming the clash.
    let both = std::process::Command::new(baton_binary())
        .args([
            "server",
            "local",
            "--port",
            "8080",
            "--listen",
            "127.0.0.1:8081",
        ])
        .output()?;
    assert!(!both.status.success());
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(
        stderr.contains("--port") && stderr.contains("--listen"),
        "{stderr}"
    );
    Ok(())
}
