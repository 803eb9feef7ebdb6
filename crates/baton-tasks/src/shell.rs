//! `shell.commands` and `shell.script` (`io.kestra.plugin.scripts.shell.{Commands,Script}`) with
//! the Process runner: a fresh working directory per task run, `inputFiles` written into it,
//! `beforeCommands` then the commands (or the script) run by the `interpreter`, and the files
//! matching `outputFiles` collected into internal storage (see `workdir.rs`).

use baton_core::flow::props::{CommandsProps, ScriptBase, ScriptProps, TaskRunner};
use baton_core::flow::task::LogLevel;
use tokio_util::sync::CancellationToken;

use crate::{RunContext, TaskOutcome, WorkingDir, process, render};

/// What the task runs after `beforeCommands`.
pub(crate) enum Body<'a> {
    Commands(&'a CommandsProps),
    Script(&'a ScriptProps),
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

async fn run_inner(
    base: &ScriptBase,
    body: Body<'_>,
    run: &RunContext,
    cancel: &CancellationToken,
) -> Result<TaskOutcome, String> {
    match &base.task_runner {
        Some(TaskRunner::Docker(_)) => {
            return Err(
                "the Docker task runner is not supported by this worker yet; use \
                        taskRunner type io.kestra.plugin.core.runner.Process"
                    .to_owned(),
            );
        }
        Some(TaskRunner::Process {}) => {}
        None => {
            if let Some(image) = &base.container_image {
                run.logs.log(
                    LogLevel::Warn,
                    format!(
                        "containerImage {image} is ignored: this worker runs script tasks with \
                         the Process runner"
                    ),
                );
            }
        }
    }
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
    }
    dir.write_input_files(run, base.input_files.as_ref())
        .await?;

    let mut args: Vec<String> = interpreter[1..].to_vec();
    args.push(lines.join("\n"));
    let finished = process::run(
        process::Command {
            program: &interpreter[0],
            args,
            env: &base.env,
            dir: dir.path(),
        },
        &run.logs,
        cancel,
    )
    .await
    .map_err(|e| format!("cannot start {}: {e}", interpreter[0]))?;

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
        return Ok(outcome);
    }
    let error = match (finished.exit_code, finished.signal) {
        (Some(0), _) if !base.output_files.is_empty() => {
            match dir.collect_output_files(run, &base.output_files).await {
                Ok(files) => {
                    outputs["outputFiles"] = serde_json::Value::Object(files);
                    None
                }
                Err(error) => {
                    // Kestra logs why the task failed with the task's own lines.
                    run.logs.log(LogLevel::Error, error.clone());
                    Some(error)
                }
            }
        }
        (Some(0), _) => None,
        (Some(code), _) => Some(format!("command failed with exit code {code}")),
        (None, Some(signal)) => Some(format!("command was killed by signal {signal}")),
        (None, None) => Some("command ended without an exit code".to_owned()),
    };
    Ok(match error {
        None => TaskOutcome::success(outputs),
        Some(error) => TaskOutcome {
            state: crate::TaskState::Failed,
            outputs,
            error: Some(error),
        },
    })
}
