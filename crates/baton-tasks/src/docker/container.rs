//! One container's life: create (pulling per `pullPolicy`), upload the working directory,
//! attach, start, stream its output line by line, wait, download the working directory, and
//! remove it — whichever way the run ends.

use std::path::Path;
use std::time::Duration;
use tracing::Instrument as _;

use baton_core::flow::props::PullPolicy;
use bollard::Docker;
use bollard::errors::Error as EngineError;
use bollard::query_parameters::{
    AttachContainerOptions, CreateImageOptions, DownloadFromContainerOptions, KillContainerOptions,
    RemoveContainerOptions, UploadToContainerOptions,
};
use futures_util::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::spec::{ContainerSpec, repository_and_tag};
use super::{DockerEngine, archive};
use crate::LogSink;
use crate::process::Finished;
use crate::protocol::{Captured, Stream as Output};

/// How long output is still read after the container exits.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// After a kill, how long the exit is waited for before the run ends anyway.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// Longer lines are cut, so one line cannot exhaust memory.
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// A container to run for a script task.
pub(crate) struct Container<'a> {
    pub spec: ContainerSpec,
    /// The host working directory, uploaded before the start (unless mounted).
    pub dir: &'a Path,
    /// Copy the working directory back after the run: the task keeps output files.
    pub download: bool,
}

/// How a container run ended.
pub(crate) struct Exited {
    pub finished: Finished,
    /// The kernel killed the command for going over its memory limit.
    pub oom_killed: bool,
}

/// Runs the container to its end. A kill (`cancel`) kills it; it is removed afterwards unless
/// the runner's `delete` is false. An `Err` is a failure to run it at all (no image, no engine).
pub(crate) async fn run(
    engine: &DockerEngine,
    container: Container<'_>,
    logs: &LogSink,
    cancel: &CancellationToken,
) -> Result<Exited, String> {
    let client = engine
        .client(container.spec.host.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    // Spans of the container's life (exported traces show them under the task run attempt).
    let image = container.spec.image.as_str();
    let Some(id) = create(&client, &container.spec, logs, cancel)
        .instrument(tracing::info_span!("container.create", image))
        .await?
    else {
        return Ok(killed_before_start());
    };
    let removal = Removal {
        client: client.clone(),
        id: id.clone(),
        armed: container.spec.delete,
    };
    let result = run_created(&client, &id, &container, logs, cancel)
        .instrument(tracing::info_span!("container.run", image, container_id = %id))
        .await;
    removal
        .now()
        .instrument(tracing::info_span!("container.remove", container_id = %id))
        .await;
    result
}

fn killed_before_start() -> Exited {
    Exited {
        finished: Finished {
            exit_code: None,
            signal: None,
            killed: true,
            captured: Captured::default(),
            stdout_lines: 0,
            stderr_lines: 0,
        },
        oom_killed: false,
    }
}

/// Creates the container, pulling its image first as the policy says. `None` when killed.
async fn create(
    client: &Docker,
    spec: &ContainerSpec,
    logs: &LogSink,
    cancel: &CancellationToken,
) -> Result<Option<String>, String> {
    let image = &spec.image;
    if spec.pull_policy == PullPolicy::Always {
        let pulled = tokio::select! {
            pulled = pull(client, spec, logs) => pulled,
            () = cancel.cancelled() => return Ok(None),
        };
        pulled.map_err(|e| format!("cannot pull image '{image}' (pullPolicy ALWAYS): {e}"))?;
    }
    match create_container(client, spec).await {
        Err(error) if is_no_such_image(&error) => match spec.pull_policy {
            PullPolicy::Never => Err(format!(
                "image '{image}' is not on the Docker host and pullPolicy is NEVER"
            )),
            PullPolicy::Always => Err(format!(
                "image '{image}' is not on the Docker host after pulling it"
            )),
            PullPolicy::IfNotPresent => {
                let pulled = tokio::select! {
                    pulled = pull(client, spec, logs) => pulled,
                    () = cancel.cancelled() => return Ok(None),
                };
                pulled.map_err(|e| {
                    format!("image '{image}' is not on the Docker host and cannot be pulled: {e}")
                })?;
                create_container(client, spec)
                    .await
                    .map(Some)
                    .map_err(|e| format!("cannot create a container of '{image}': {e}"))
            }
        },
        Err(error) => Err(format!("cannot create a container of '{image}': {error}")),
        Ok(id) => Ok(Some(id)),
    }
}

async fn create_container(client: &Docker, spec: &ContainerSpec) -> Result<String, EngineError> {
    let created = client
        .create_container(
            None::<bollard::query_parameters::CreateContainerOptions>,
            spec.body.clone(),
        )
        .await?;
    Ok(created.id)
}

fn is_no_such_image(error: &EngineError) -> bool {
    matches!(error, EngineError::DockerResponseServerError { status_code: 404, message }
        if message.to_ascii_lowercase().contains("no such image"))
}

async fn pull(client: &Docker, spec: &ContainerSpec, logs: &LogSink) -> Result<(), String> {
    let (repository, tag) = repository_and_tag(&spec.image);
    logs.log(
        baton_core::flow::task::LogLevel::Debug,
        format!("pulling image {}", spec.image),
    );
    let options = CreateImageOptions {
        from_image: Some(repository.to_owned()),
        tag: Some(tag.to_owned()),
        ..CreateImageOptions::default()
    };
    let mut progress = client.create_image(Some(options), None, spec.credentials.clone());
    while let Some(step) = progress.next().await {
        let step = step.map_err(|e| e.to_string())?;
        if let Some(detail) = step.error_detail {
            return Err(detail
                .message
                .unwrap_or_else(|| "the pull failed".to_owned()));
        }
    }
    Ok(())
}

async fn run_created(
    client: &Docker,
    id: &str,
    container: &Container<'_>,
    logs: &LogSink,
    cancel: &CancellationToken,
) -> Result<Exited, String> {
    if !container.spec.mount_working_dir && has_entries(container.dir)? {
        upload(client, id, container.dir).await?;
    }
    if cancel.is_cancelled() {
        return Ok(killed_before_start());
    }
    let attach = AttachContainerOptions {
        stream: true,
        stdout: true,
        stderr: true,
        ..AttachContainerOptions::default()
    };
    let mut output = client
        .attach_container(id, Some(attach))
        .await
        .map_err(|e| format!("cannot attach to the container: {e}"))?
        .output;
    client
        .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
        .await
        .map_err(|e| format!("cannot start the container: {e}"))?;

    let mut lines = Lines::default();
    let mut wait = Box::pin(
        client.wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>),
    );
    let mut exit: Option<Result<i64, String>> = None;
    let mut killed = false;
    let mut output_open = true;
    let mut drain_deadline = None;
    while exit.is_none() || output_open {
        tokio::select! {
            chunk = output.next(), if output_open => match chunk {
                Some(Ok(chunk)) => lines.push(chunk, logs),
                Some(Err(_)) | None => output_open = false,
            },
            waited = wait.next(), if exit.is_none() => {
                exit = Some(exit_code(waited));
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            () = cancel.cancelled(), if !killed => {
                killed = true;
                kill(client, id).await;
                // A killed run ends even if the engine never reports the exit.
                drain_deadline.get_or_insert(tokio::time::Instant::now() + KILL_WAIT);
            }
            () = sleep_until(drain_deadline) => break,
        }
    }
    lines.finish(logs);
    let exit_code = match exit {
        Some(exit) => exit?,
        None if killed => 137,
        None => return Err("the engine reported no exit code".to_owned()),
    };
    let oom_killed = exit_code != 0 && !killed && oom_killed(client, id).await;
    if container.download && !killed && !container.spec.mount_working_dir {
        download(client, id, container.dir).await?;
    }
    Ok(Exited {
        finished: Finished {
            exit_code: i32::try_from(exit_code).ok(),
            signal: None,
            killed,
            captured: lines.captured,
            stdout_lines: lines.stdout_lines,
            stderr_lines: lines.stderr_lines,
        },
        oom_killed,
    })
}

/// The engine reports a non-zero exit as an error carrying the code.
fn exit_code(
    waited: Option<Result<bollard::models::ContainerWaitResponse, EngineError>>,
) -> Result<i64, String> {
    match waited {
        Some(Ok(response)) => Ok(response.status_code),
        Some(Err(EngineError::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(error)) => Err(format!("lost the container while waiting for it: {error}")),
        None => Err("the engine ended the wait without an exit code".to_owned()),
    }
}

async fn oom_killed(client: &Docker, id: &str) -> bool {
    client
        .inspect_container(
            id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .ok()
        .and_then(|c| c.state)
        .and_then(|s| s.oom_killed)
        .unwrap_or(false)
}

async fn kill(client: &Docker, id: &str) {
    let options = KillContainerOptions {
        signal: "KILL".to_owned(),
    };
    // It may have exited already; the removal that follows is what counts.
    let _ = client.kill_container(id, Some(options)).await;
}

fn has_entries(dir: &Path) -> Result<bool, String> {
    std::fs::read_dir(dir)
        .map(|mut entries| entries.next().is_some())
        .map_err(|e| format!("cannot read the working directory: {e}"))
}

async fn upload(client: &Docker, id: &str, dir: &Path) -> Result<(), String> {
    let source = dir.to_path_buf();
    let spool = spool_file(dir)?;
    let archive = tokio::task::spawn_blocking(move || archive::pack(&source, spool))
        .await
        .map_err(|e| format!("cannot archive the working directory: {e}"))?
        .map_err(|e| format!("cannot archive the working directory: {e}"))?;
    let body = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(archive));
    let options = UploadToContainerOptions {
        path: "/".to_owned(),
        ..UploadToContainerOptions::default()
    };
    client
        .upload_to_container(id, Some(options), bollard::body_try_stream(body))
        .await
        .map_err(|e| format!("cannot copy the working directory into the container: {e}"))
}

async fn download(client: &Docker, id: &str, dir: &Path) -> Result<(), String> {
    let options = DownloadFromContainerOptions {
        path: dir.display().to_string(),
    };
    let failed = |e: &dyn std::fmt::Display| {
        format!("cannot copy the working directory out of the container: {e}")
    };
    let spool = spool_file(dir)?;
    let mut file = tokio::fs::File::from_std(spool);
    let mut archive = client
        .download_from_container(id, Some(options))
        .map_err(|e| failed(&e));
    while let Some(chunk) = archive.try_next().await? {
        file.write_all(&chunk).await.map_err(|e| failed(&e))?;
    }
    file.flush().await.map_err(|e| failed(&e))?;
    let mut file = file.into_std().await;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0)).map_err(|e| failed(&e))?;
    let dest = dir.to_path_buf();
    tokio::task::spawn_blocking(move || archive::unpack(file, &dest))
        .await
        .map_err(|e| failed(&e))?
        .map_err(|e| failed(&e))
}

/// An unnamed temporary file beside the working directory (same disk, removed on close).
fn spool_file(dir: &Path) -> Result<std::fs::File, String> {
    let parent = dir.parent().unwrap_or(dir);
    tempfile::tempfile_in(parent).map_err(|e| format!("cannot create a temporary file: {e}"))
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Removes the container: [`Removal::now`] on every path the run takes, and from `Drop` (on a
/// spawned task) if the run's future is dropped before that.
struct Removal {
    client: Docker,
    id: String,
    armed: bool,
}

impl Removal {
    async fn now(mut self) {
        if std::mem::take(&mut self.armed) {
            remove(&self.client, &self.id).await;
        }
    }
}

impl Drop for Removal {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (client, id) = (self.client.clone(), std::mem::take(&mut self.id));
            runtime.spawn(async move { remove(&client, &id).await });
        }
    }
}

async fn remove(client: &Docker, id: &str) {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..RemoveContainerOptions::default()
    };
    match client.remove_container(id, Some(options)).await {
        Ok(())
        | Err(EngineError::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        // The sweeper of the next worker start on this host takes it.
        Err(error) => tracing::warn!(container = id, %error, "cannot remove a task container"),
    }
}

/// Splits the engine's output frames into lines, per stream, and hands each to the protocol.
#[derive(Default)]
struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    captured: Captured,
    stdout_lines: u64,
    stderr_lines: u64,
}

impl Lines {
    fn push(&mut self, chunk: bollard::container::LogOutput, logs: &LogSink) {
        use bollard::container::LogOutput;
        let (stream, message) = match chunk {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (Output::Stdout, message)
            }
            LogOutput::StdErr { message } => (Output::Stderr, message),
            LogOutput::StdIn { .. } => return,
        };
        for piece in message.split_inclusive(|b| *b == b'\n') {
            let buffer = self.buffer(stream);
            let complete = piece.ends_with(b"\n");
            buffer.extend_from_slice(piece);
            if complete || buffer.len() >= MAX_LINE_BYTES {
                let line = std::mem::take(buffer);
                self.emit(stream, line, logs);
            }
        }
    }

    fn finish(&mut self, logs: &LogSink) {
        for stream in [Output::Stdout, Output::Stderr] {
            let rest = std::mem::take(self.buffer(stream));
            if !rest.is_empty() {
                self.emit(stream, rest, logs);
            }
        }
    }

    fn buffer(&mut self, stream: Output) -> &mut Vec<u8> {
        match stream {
            Output::Stdout => &mut self.stdout,
            Output::Stderr => &mut self.stderr,
        }
    }

    fn emit(&mut self, stream: Output, mut line: Vec<u8>, logs: &LogSink) {
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        match stream {
            Output::Stdout => self.stdout_lines += 1,
            Output::Stderr => self.stderr_lines += 1,
        }
        self.captured
            .line(stream, &String::from_utf8_lossy(&line), logs);
    }
}

/// For tests: the output of frames split across lines arrives as whole lines.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_into_lines_per_stream() {
        use bollard::container::LogOutput;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sink = LogSink::new(tx);
        let mut lines = Lines::default();
        let frame = |text: &str, err: bool| {
            let message = text.as_bytes().to_vec().into();
            if err {
                LogOutput::StdErr { message }
            } else {
                LogOutput::StdOut { message }
            }
        };
        lines.push(frame("hel", false), &sink);
        lines.push(frame("oops\n", true), &sink);
        lines.push(
            frame("lo\r\n::{\"outputs\":{\"n\":1}}::\nlast", false),
            &sink,
        );
        lines.finish(&sink);
        drop(sink);
        let mut seen = Vec::new();
        while let Ok(log) = rx.try_recv() {
            seen.push(log.message);
        }
        assert_eq!(seen, ["oops", "hello", "last"]);
        assert_eq!((lines.stdout_lines, lines.stderr_lines), (3, 1));
        assert_eq!(lines.captured.vars.get("n"), Some(&serde_json::json!(1)));
    }
}
