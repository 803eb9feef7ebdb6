//! The Process runner: runs a command on the worker host, in its own process group, streaming
//! its output line by line. Killing (a kill, a timeout, or dropping the future) kills the whole
//! group, so nothing the command started outlives the task run.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use indexmap::IndexMap;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::LogSink;
use crate::protocol::{Captured, Stream};

/// A command to run.
pub(crate) struct Command<'a> {
    pub program: &'a str,
    pub args: Vec<String>,
    pub env: &'a IndexMap<String, String>,
    pub dir: &'a Path,
}

/// How a command ended.
pub(crate) struct Finished {
    /// `None` when a signal ended it.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub killed: bool,
    pub captured: Captured,
    pub stdout_lines: u64,
    pub stderr_lines: u64,
}

/// How long output is still read after the command exits, for pipes held by stragglers.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// Longer lines are cut, so one line cannot exhaust memory.
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Kills the process group when dropped, whatever path the run took.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

pub(crate) async fn run(
    command: Command<'_>,
    logs: &LogSink,
    cancel: &CancellationToken,
) -> std::io::Result<Finished> {
    let mut child = tokio::process::Command::new(command.program)
        .args(&command.args)
        .current_dir(command.dir)
        .envs(command.env)
        .env("WORKING_DIR", command.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let mut guard = GroupGuard(pgid);
    let (lines_tx, mut lines) = mpsc::channel::<(Stream, String)>(256);
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        readers.push(tokio::spawn(read_lines(
            stdout,
            Stream::Stdout,
            lines_tx.clone(),
        )));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(tokio::spawn(read_lines(
            stderr,
            Stream::Stderr,
            lines_tx.clone(),
        )));
    }
    drop(lines_tx);

    let mut captured = Captured::default();
    let (mut stdout_lines, mut stderr_lines) = (0u64, 0u64);
    let mut status: Option<ExitStatus> = None;
    let mut killed = false;
    let mut drain_deadline = None;
    let mut pipes_open = true;
    while status.is_none() || pipes_open {
        tokio::select! {
            line = lines.recv(), if pipes_open => match line {
                Some((stream, line)) => {
                    match stream {
                        Stream::Stdout => stdout_lines += 1,
                        Stream::Stderr => stderr_lines += 1,
                    }
                    captured.line(stream, &line, logs);
                }
                None => pipes_open = false,
            },
            exit = child.wait(), if status.is_none() => {
                status = Some(exit?);
                // Whatever the command left behind in its group goes with it.
                kill_group(pgid);
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            () = cancel.cancelled(), if !killed => {
                killed = true;
                kill_group(pgid);
            }
            () = sleep_until(drain_deadline) => break,
        }
    }
    for reader in readers {
        reader.abort();
    }
    guard.0 = None;
    kill_group(pgid);
    let status = status.unwrap_or_default();
    Ok(Finished {
        exit_code: status.code(),
        signal: status.signal(),
        killed,
        captured,
        stdout_lines,
        stderr_lines,
    })
}

fn kill_group(pgid: Option<Pid>) {
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn read_lines(
    stream: impl AsyncRead + Unpin,
    kind: Stream,
    out: mpsc::Sender<(Stream, String)>,
) {
    let mut reader = BufReader::new(stream);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match (&mut reader)
            .take(MAX_LINE_BYTES as u64)
            .read_until(b'\n', &mut buffer)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                while buffer.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buffer.pop();
                }
                let line = String::from_utf8_lossy(&buffer).into_owned();
                if out.send((kind, line)).await.is_err() {
                    return;
                }
            }
        }
    }
}
