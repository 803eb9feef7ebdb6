//! One container's life: create (pulling per `pullPolicy`) while the working directory is
//! packed, upload it while attaching, start, stream its output line by line, wait, download the
//! working directory, and remove it — whichever way the run ends (`removal.rs`).

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};
use tracing::Instrument as _;

use baton_core::flow::props::PullPolicy;
use bollard::Docker;
use bollard::errors::Error as EngineError;
use bollard::query_parameters::{AttachContainerOptions, CreateImageOptions, KillContainerOptions};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::lines::Lines;
use super::removal::Removal;
use super::spec::{ContainerSpec, repository_and_tag};
use super::{DockerEngine, copy, inline};
use crate::LogSink;
use crate::process::Finished;
use crate::protocol::Captured;

/// How long output is still read after the container exits.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// After a kill, how long the exit is waited for before the run ends anyway.
const KILL_WAIT: Duration = Duration::from_secs(10);

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
    let mut timeline = Timeline::new();
    let mut container = container;
    let client = engine
        .client(container.spec.host.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let inlined = !container.spec.mount_working_dir
        && write_files_inline(engine, &client, &mut container).await;
    if inlined {
        timeline.mark("inline");
    }
    // Else the working directory is packed while the engine creates the container.
    let packing = async {
        if container.spec.mount_working_dir || inlined {
            Ok(None)
        } else {
            copy::pack(container.dir).await
        }
    };
    // Spans of the container's life (exported traces show them under the task run attempt).
    let image = container.spec.image.as_str();
    let creating = create(&client, &container.spec, logs, cancel)
        .instrument(tracing::info_span!("container.create", image));
    let (created, packed) = tokio::join!(creating, packing);
    let Some(id) = created? else {
        return Ok(killed_before_start());
    };
    timeline.mark("create");
    let removal = Removal {
        client: client.clone(),
        id: id.clone(),
        armed: container.spec.delete,
        removals: engine.removals.clone(),
    };
    let result = match packed {
        Ok(archive) => {
            run_created(
                &client,
                &id,
                &container,
                archive,
                logs,
                cancel,
                &mut timeline,
            )
            .instrument(tracing::info_span!("container.run", image, container_id = %id))
            .await
        }
        Err(error) => Err(error),
    };
    // A container that exited by itself is removed after the run, not within it.
    if matches!(&result, Ok(exited) if !exited.finished.killed) {
        removal.later();
    } else {
        removal
            .now()
            .instrument(tracing::info_span!("container.remove", container_id = %id))
            .await;
        timeline.mark("remove");
    }
    tracing::debug!(container = %id, steps = %timeline, "container run");
    result
}

/// Makes the container's own shell write the working directory when it can (see `inline`):
/// `true` when the spec now does, `false` when the directory must be uploaded.
async fn write_files_inline(
    engine: &DockerEngine,
    client: &Docker,
    container: &mut Container<'_>,
) -> bool {
    let spec = &container.spec;
    // A pull may change the image's user after this look at it.
    if spec.pull_policy == PullPolicy::Always || !inline::is_shell_script(spec) {
        return false;
    }
    let Some(image_user) = engine.image_user(client, spec).await else {
        return false;
    };
    if !inline::runs_as_root(spec, &image_user) {
        return false;
    }
    let dir = container.dir.to_path_buf();
    match tokio::task::spawn_blocking(move || inline::prelude(&dir)).await {
        Ok(Ok(Some(prelude))) => inline::apply(&mut container.spec, &prelude),
        _ => false,
    }
}

/// When each step of a container's run ended, for the debug line that says where its time went.
struct Timeline {
    last: Instant,
    steps: Vec<(&'static str, Duration)>,
}

impl Timeline {
    fn new() -> Self {
        Timeline {
            last: Instant::now(),
            steps: Vec::new(),
        }
    }

    fn mark(&mut self, step: &'static str) {
        let now = Instant::now();
        self.steps.push((step, now - self.last));
        self.last = now;
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (step, took)) in self.steps.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(f, "{separator}{step} {} ms", took.as_millis())?;
        }
        Ok(())
    }
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
    archive: Option<std::fs::File>,
    logs: &LogSink,
    cancel: &CancellationToken,
    timeline: &mut Timeline,
) -> Result<Exited, String> {
    // Attached before the start, so no output is missed; while the files go in.
    let attach = async {
        let options = AttachContainerOptions {
            stream: true,
            stdout: true,
            stderr: true,
            ..AttachContainerOptions::default()
        };
        client
            .attach_container(id, Some(options))
            .await
            .map_err(|e| format!("cannot attach to the container: {e}"))
    };
    let upload = async {
        match archive {
            Some(archive) => copy::upload(client, id, archive).await,
            None => Ok(()),
        }
    };
    let (attached, ()) = tokio::try_join!(attach, upload)?;
    let mut output = attached.output;
    timeline.mark("upload and attach");
    if cancel.is_cancelled() {
        return Ok(killed_before_start());
    }
    client
        .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
        .await
        .map_err(|e| format!("cannot start the container: {e}"))?;
    timeline.mark("start");

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
    timeline.mark("run");
    let exit_code = match exit {
        Some(exit) => exit?,
        None if killed => 137,
        None => return Err("the engine reported no exit code".to_owned()),
    };
    let oom_killed = exit_code != 0 && !killed && oom_killed(client, id).await;
    if container.download && !killed && !container.spec.mount_working_dir {
        copy::download(client, id, container.dir).await?;
        timeline.mark("download");
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

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
