//! `baton` processes for tests that need real processes and real signals.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `baton` binary next to the test binaries (cargo builds it with the workspace).
pub fn baton_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let binary = dir.join("baton");
    assert!(
        binary.exists(),
        "{} is missing: build the workspace first (./test.sh does)",
        binary.display()
    );
    binary
}

/// A running `baton` process, killed and reaped however the test ends.
pub struct BatonProcess {
    pub child: Child,
    /// `http://host:port` for server roles, once they listen.
    pub url: Option<String>,
    /// What the process printed on stderr so far, line by line.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl BatonProcess {
    /// Starts `baton ARGS` with `envs`; for server roles (`wait_for_url`), waits until it prints
    /// the address it listens on.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)], wait_for_url: bool) -> anyhow::Result<Self> {
        let mut child = Command::new(baton_binary())
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().expect("piped stderr");
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("baton is listening on ") {
                    let _ = url_tx.send(url.to_owned());
                }
                kept.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let mut process = BatonProcess {
            child,
            url: None,
            stderr: lines,
        };
        if wait_for_url {
            process.url = Some(url_rx.recv_timeout(Duration::from_secs(30))?);
        }
        Ok(process)
    }

    /// The lines the process printed on stderr so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill_hard(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for BatonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
