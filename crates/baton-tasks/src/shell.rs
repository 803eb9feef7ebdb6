//! Script tasks — `shell.commands`, `shell.script` (`io.kestra.plugin.scripts.shell.*`) and,
//! with `python.rs`'s additions, `python.script`, `python.commands` — on the Process or the
//! Docker runner: a fresh working directory per task run, `inputFiles` written into it,
//! `beforeCommands` then the commands (or the script) run by the `interpreter`.
//!
//! The runner is the one `taskRunner` names; without one, a task with a `containerImage` (or the
//! old `docker:` options) runs in Docker, as Kestra's default runner is Docker, and a task with
//! neither runs as a process on the worker (Kestra would use its default image, which an offline
//! worker cannot pull).

use std::path::{Component, Path};

use baton_core::flow::props::{
    CommandsProps, DockerRunner, PythonCommandsProps, PythonScriptProps, ScriptBase, ScriptProps,
    TaskRunner,
};
use tokio_util::sync::CancellationToken;

use crate::process::Finished;
use crate::{RunContext, TaskOutcome, docker, process, python, render};

/// What the task runs after `beforeCommands`.
pub(crate) enum Body<'a> {
    Commands(&'a CommandsProps),
    Script(&'a ScriptProps),
    PythonScript(&'a PythonScriptProps),
    PythonCommands(&'a PythonCommandsProps),
}

impl Body<'_> {
    /// Kestra's image for the task type when neither the task nor its runner names one.
    fn default_image(&self) -> &'static str {
        match self {
            Body::Commands(_) | Body::Script(_) => "ubuntu",
            Body::PythonScript(_) | Body::PythonCommands(_) => python::DEFAULT_IMAGE,
        }
    }
}

const DEFAULT_INTERPRETER: [&str; 2] = ["/bin/sh", "-c"];

pub(crate) async fn run(
    base: &ScriptBase,
    body: Body<'_>,
    run: &RunContext,
    cancel: &CancellationToken,
) -> TaskOutcome {
    match run_inner(base, body, run, cancel).await {
        Ok(outcome) => outcome,
        Err(error) => TaskOutcome::failed(error),
    }
}

/// Where the command runs, with the runner's rendered options.
enum Runner {
    Process,
    Docker(DockerRunner),
}

fn runner(base: &ScriptBase) -> Runner {
    match &base.task_runner {
        Some(TaskRunner::Process {}) => Runner::Process,
        Some(TaskRunner::Docker(options)) => Runner::Docker(options.clone()),
        None => match &base.docker {
            Some(options) => Runner::Docker(options.clone()),
            None if base.container_image.is_some() => Runner::Docker(DockerRunner::default()),
            None => Runner::Process,
        },
    }
}

async fn run_inner(
    base: &ScriptBase,
    body: Body<'_>,
    run: &RunContext,
    cancel: &CancellationToken,
) -> Result<TaskOutcome, String> {
    std::fs::create_dir_all(&run.work_root)
        .map_err(|e| format!("cannot create {}: {e}", run.work_root.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("baton-task-")
        .tempdir_in(&run.work_root)
        .map_err(|e| format!("cannot create a working directory: {e}"))?;
    // The Docker runner puts the directory at the same path in the container, so the one value
    // serves both runners.
    let mut context = run.context.clone();
    if let serde_json::Value::Object(map) = &mut context {
        map.insert(
            "workingDir".to_owned(),
            serde_json::Value::String(dir.path().display().to_string()),
        );
    }
    let base = render::props_with(base, run, &context)?;
    let mut lines: Vec<String> = Vec::new();
    if base.fail_fast.unwrap_or(true) {
        lines.push("set -e".to_owned());
    }
    lines.extend(base.before_commands.iter().cloned());
    let interpreter = base
        .interpreter
        .clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| DEFAULT_INTERPRETER.map(str::to_owned).to_vec());
    // Inputs first: the task's own files (the script) must not be overwritten by one.
    write_input_files(base.input_files.as_ref(), dir.path())?;
    let mut env = base.env.clone();
    let default_image = body.default_image();
    match body {
        Body::Commands(props) => {
            let props = render::props_with(props, run, &context)?;
            lines.extend(props.commands.to_vec().into_iter().map(str::to_owned));
        }
        Body::Script(props) => {
            let props = render::props_with(props, run, &context)?;
            let file = dir.path().join("script.sh");
            std::fs::write(&file, props.script)
                .map_err(|e| format!("cannot write the script: {e}"))?;
            lines.push(format!("{} {}", interpreter[0], file.display()));
        }
        Body::PythonScript(props) => {
            let props = render::props_with(props, run, &context)?;
            python::prepare(dir.path(), &props.dependencies, &mut env, &mut lines)?;
            lines.push(python::write_script(dir.path(), &props.script)?);
        }
        Body::PythonCommands(props) => {
            let props = render::props_with(props, run, &context)?;
            python::prepare(dir.path(), &props.dependencies, &mut env, &mut lines)?;
            lines.extend(props.commands.to_vec().into_iter().map(str::to_owned));
        }
    }

    let mut args = interpreter[1..].to_vec();
    args.push(lines.join("\n"));
    let command = process::Command {
        program: &interpreter[0],
        args,
        env: &env,
        dir: dir.path(),
    };
    let (finished, oom_killed) = match runner(&base) {
        Runner::Process => {
            let finished = process::run(command, &run.logs, cancel)
                .await
                .map_err(|e| format!("cannot start {}: {e}", interpreter[0]))?;
            (finished, false)
        }
        Runner::Docker(options) => {
            let image = options
                .image
                .clone()
                .or_else(|| base.container_image.clone())
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| default_image.to_owned());
            let download = !base.output_files.is_empty();
            in_container(run, &options, image, command, download, cancel).await?
        }
    };
    Ok(outcome(finished, oom_killed))
}

/// Runs the command in a container of `image`, the working directory copied in and, when the
/// task keeps output files (`download`), back out.
async fn in_container(
    run: &RunContext,
    options: &DockerRunner,
    image: String,
    command: process::Command<'_>,
    download: bool,
    cancel: &CancellationToken,
) -> Result<(Finished, bool), String> {
    let mut env: Vec<String> = command
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.push(format!("WORKING_DIR={}", command.dir.display()));
    let mut argv = vec![command.program.to_owned()];
    argv.extend(command.args);
    let spec = docker::spec::build(
        docker::spec::Request {
            runner: options,
            image,
            command: argv,
            env,
            dir: command.dir,
            labels: run.docker.labels(&run.context),
        },
        run.docker.settings(),
    )?;
    let container = docker::Container {
        spec,
        dir: command.dir,
        download,
    };
    let exited = docker::run(&run.docker, container, &run.logs, cancel).await?;
    Ok((exited.finished, exited.oom_killed))
}

/// The task's outputs and state from how its command ended.
fn outcome(finished: Finished, oom_killed: bool) -> TaskOutcome {
    let mut outputs = serde_json::json!({
        "vars": serde_json::Value::Object(finished.captured.vars),
        "exitCode": finished.exit_code,
        "stdOutLineCount": finished.stdout_lines,
        "stdErrLineCount": finished.stderr_lines,
    });
    if !finished.captured.metrics.is_empty() {
        outputs["metrics"] = serde_json::Value::Array(finished.captured.metrics);
    }
    if finished.killed {
        let mut outcome = TaskOutcome::killed();
        outcome.outputs = outputs;
        return outcome;
    }
    let error = match (finished.exit_code, finished.signal) {
        (Some(0), _) => None,
        (Some(code), _) if oom_killed => Some(format!(
            "the container ran out of memory and was killed (exit code {code}); raise \
             taskRunner.memory.memory"
        )),
        (Some(code), _) => Some(format!("command failed with exit code {code}")),
        (None, Some(signal)) => Some(format!("command was killed by signal {signal}")),
        (None, None) => Some("command ended without an exit code".to_owned()),
    };
    match error {
        None => TaskOutcome::success(outputs),
        Some(error) => TaskOutcome {
            state: crate::TaskState::Failed,
            outputs,
            error: Some(error),
        },
    }
}

/// Writes `inputFiles` (a map, or a JSON string of one: file name → inline content) into the
/// working directory. Names must stay inside it.
fn write_input_files(files: Option<&serde_json::Value>, dir: &Path) -> Result<(), String> {
    let Some(files) = files else {
        return Ok(());
    };
    let parsed;
    let map = match files {
        serde_json::Value::Object(map) => map,
        serde_json::Value::String(text) => {
            parsed = serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| format!("inputFiles is not a JSON object: {e}"))?;
            parsed
                .as_object()
                .ok_or("inputFiles must be a map of file name to content")?
        }
        _ => return Err("inputFiles must be a map of file name to content".to_owned()),
    };
    for (name, content) in map {
        let relative = Path::new(name);
        if name.is_empty()
            || !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(format!(
                "inputFiles: '{name}' must be a relative path inside the working directory"
            ));
        }
        let content = match content {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        if content.starts_with("kestra://") {
            return Err(format!(
                "inputFiles: '{name}': kestra:// files are not available on this worker yet"
            ));
        }
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("inputFiles: cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, content)
            .map_err(|e| format!("inputFiles: cannot write '{name}': {e}"))?;
    }
    Ok(())
}
