//! The variables a task run's templates see, built the way Kestra builds them.

use serde_json::{Map, Value, json};

use super::{Execution, TaskRun};
use crate::flow::Flow;

/// What the context needs from outside the execution document.
#[derive(Clone, Debug, Default)]
pub struct ContextExtras {
    /// `envs.*`: environment variables with the `ENV_` prefix stripped and lower-cased; read by
    /// the caller, since the core reads no environment.
    pub envs: Map<String, Value>,
    /// `workingDir`, on the worker that runs a script task.
    pub working_dir: Option<String>,
}

/// The template context of `task_run` (or of the execution itself when `None`): inputs,
/// outputs of the task runs so far, vars, trigger, execution, flow, labels, taskrun, parent(s).
pub fn task_context(
    flow: &Flow,
    execution: &Execution,
    task_run: Option<&TaskRun>,
    extras: &ContextExtras,
) -> Value {
    let mut context = Map::new();
    context.insert("inputs".into(), Value::Object(execution.inputs.clone()));
    context.insert("outputs".into(), Value::Object(outputs(execution)));
    context.insert("vars".into(), json!(flow.variables));
    context.insert(
        "flow".into(),
        json!({"id": flow.id, "namespace": flow.namespace, "revision": execution.flow_revision, "tenantId": null}),
    );
    context.insert(
        "execution".into(),
        json!({
            "id": execution.id,
            "startDate": execution.started_at().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "state": execution.state.as_str(),
            "originalId": execution.original_id.as_deref().unwrap_or(&execution.id),
        }),
    );
    context.insert("labels".into(), json!(execution.labels));
    context.insert("envs".into(), Value::Object(extras.envs.clone()));
    if let Some(trigger) = &execution.trigger {
        context.insert("trigger".into(), trigger.clone());
    }
    if let Some(dir) = &extras.working_dir {
        context.insert("workingDir".into(), json!(dir));
    }
    if let Some(task_run) = task_run {
        context.insert("taskrun".into(), taskrun_vars(task_run));
        if let Some(task) = flow.find_task(&task_run.task_id) {
            context.insert(
                "task".into(),
                json!({"id": task.id, "type": task.type_name}),
            );
        }
        let parents = parents(execution, task_run);
        if let Some(first) = parents.first() {
            context.insert("parent".into(), first.clone());
        }
        if !parents.is_empty() {
            context.insert("parents".into(), Value::Array(parents));
        }
    }
    Value::Object(context)
}

/// `outputs.<task>.<attr>`, and `outputs.<task>[<value>].<attr>` for task runs inside a ForEach.
fn outputs(execution: &Execution) -> Map<String, Value> {
    let mut out = Map::new();
    for run in &execution.task_runs {
        if run.outputs.is_empty() {
            continue;
        }
        let outputs = Value::Object(run.outputs.clone());
        match &run.value {
            None => {
                out.insert(run.task_id.clone(), outputs);
            }
            Some(value) => {
                let slot = out
                    .entry(run.task_id.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(by_value) = slot {
                    by_value.insert(value.clone(), outputs);
                }
            }
        }
    }
    out
}

fn taskrun_vars(run: &TaskRun) -> Value {
    let mut vars = json!({
        "id": run.id,
        "attemptsCount": run.attempt().saturating_sub(1),
        "parentId": run.parent_id,
    });
    if let Some(started) = run.started_at() {
        vars["startDate"] = json!(started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    if let Some(value) = &run.value {
        vars["value"] = json!(value);
    }
    if let Some(iteration) = run.iteration {
        vars["iteration"] = json!(iteration);
    }
    vars
}

/// The chain of flowable task runs above `run`, nearest first, as `parent`/`parents` expose them.
fn parents(execution: &Execution, run: &TaskRun) -> Vec<Value> {
    let mut chain = Vec::new();
    let mut current = run.parent_id.as_deref();
    while let Some(id) = current {
        let Some(parent) = execution.task_run(id) else {
            break;
        };
        chain.push(json!({"taskrun": taskrun_vars(parent), "outputs": parent.outputs}));
        current = parent.parent_id.as_deref();
        if chain.len() > 64 {
            break;
        }
    }
    chain
}
