//! Script tasks — `shell.commands`, `shell.script` (`io.kestra.plugin.scripts.shell.*`) and,
//! with `python.rs`'s additions, `python.script`, `python.commands` — on the Process or the
//! Docker runner: a fresh working directory per task run (`workdir.rs`), `inputFiles` written
//! into it, `beforeCommands` then the commands (or the script) run by the `interpreter`, and the
//! files matching `outputFiles` collected into internal storage.
//!
//! The runner is the one `taskRunner` names; without one, a task with a `containerImage` (or the
//! old `docker:` options) runs in Docker, as Kestra's default runner is Docker, and a task with
//! neither runs as a process on the worker (Kestra would use its default image, which an offline
//! worker cannot pull).

use baton_core::flow::props::{
    CommandsProps, DockerRunner, PythonCommandsProps, PythonScriptProps, ScriptBase, ScriptProps,
    TaskRunner,
};
use tokio_util::sync::CancellationToken;

use crate::process::Finished;
use crate::{RunContext, TaskOutcome, TaskState, WorkingDir, docker, process, python, render};
use baton_core::flow::task::LogLevel;

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
    // The Docker runner puts the directory at the same path in the container, so the one value
    // serves both runners.
    let dir = WorkingDir::create(run)?;
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
    // Namespace files, then inputs (an input file of the same name wins), then the task's own
    // files (the script), which neither may overwrite.
    dir.write_namespace_files(run, base.namespace_files.as_ref())
        .await?;
    dir.write_input_files(run, base.input_files.as_ref())
        .await?;
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
    let exited_cleanly = finished.exit_code == Some(0) && !finished.killed;
    let mut outcome = outcome(finished, oom_killed);
    if exited_cleanly && !base.output_files.is_empty() {
        match dir.collect_output_files(run, &base.output_files).await {
            Ok(files) => outcome.outputs["outputFiles"] = serde_json::Value::Object(files),
            Err(error) => {
                // Kestra logs why the task failed with the task's own lines.
                run.logs.log(LogLevel::Error, error.clone());
                outcome.state = TaskState::Failed;
                outcome.error = Some(error);
            }
        }
    }
    Ok(outcome)
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
