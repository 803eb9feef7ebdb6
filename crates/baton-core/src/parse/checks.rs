//! Checks that look across the whole flow once it is read.

use std::collections::HashMap;

use crate::diagnostic::{Diagnostic, Position};
use crate::flow::task::RetryKind;
use crate::flow::{Flow, Retry, Task};

pub fn check_flow(flow: &Flow) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut seen: HashMap<&str, Position> = HashMap::new();
    for task in flow.all_tasks() {
        match seen.get(task.id.as_str()) {
            Some(first) => out.push(Diagnostic::error(
                task.position,
                format!("duplicate task id '{}' (first used at {first}); task ids are unique across the whole flow", task.id),
            )),
            None => {
                seen.insert(&task.id, task.position);
            }
        }
        check_flowable(task, &mut out);
        check_recursive_subflow(flow, task, &mut out);
    }
    let mut triggers: HashMap<&str, Position> = HashMap::new();
    for trigger in &flow.triggers {
        if let Some(first) = triggers.insert(&trigger.id, trigger.position) {
            out.push(Diagnostic::error(
                trigger.position,
                format!(
                    "duplicate trigger id '{}' (first used at {first})",
                    trigger.id
                ),
            ));
        }
    }
    out
}

/// Kestra needs an end to every retry policy and the waits its type uses. Problems are
/// reported at `at`, the policy's position.
pub fn check_retry(retry: &Retry, at: Position) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut problem = |message: String| out.push(Diagnostic::error(at, format!("retry {message}")));
    if retry.max_attempt.is_none() && retry.max_duration.is_none() {
        problem("needs 'maxAttempt' or 'maxDuration', or it would never stop".to_owned());
    }
    if retry.max_attempt == Some(0) {
        problem("'maxAttempt' must be at least 1".to_owned());
    }
    match retry.kind {
        RetryKind::Constant if retry.interval.is_none() => {
            problem("of type constant needs 'interval'".to_owned())
        }
        RetryKind::Exponential if retry.interval.is_none() || retry.max_interval.is_none() => {
            problem("of type exponential needs 'interval' and 'maxInterval'".to_owned())
        }
        RetryKind::Random if retry.min_interval.is_none() || retry.max_interval.is_none() => {
            problem("of type random needs 'minInterval' and 'maxInterval'".to_owned())
        }
        _ => {}
    }
    for (name, value) in [
        ("interval", retry.interval),
        ("maxInterval", retry.max_interval),
        ("minInterval", retry.min_interval),
        ("maxDuration", retry.max_duration),
    ] {
        if value.is_some_and(|d| d.is_negative()) {
            problem(format!("'{name}' must not be negative"));
        }
    }
    out
}

/// A flow that names itself as a subflow would start itself forever; Kestra refuses it with
/// this message. Longer cycles (A calls B calls A) are caught at run time by the depth limit.
fn check_recursive_subflow(flow: &Flow, task: &Task, out: &mut Vec<Diagnostic>) {
    if let crate::flow::TaskProps::Subflow(subflow) = &task.props
        && subflow.namespace == flow.namespace
        && subflow.flow_id == flow.id
    {
        out.push(Diagnostic::error(
            task.position,
            format!(
                "recursive call to flow [{}.{}]: subflow '{}' starts the flow it belongs to",
                flow.namespace, flow.id, task.id
            ),
        ));
    }
}

fn check_flowable(task: &Task, out: &mut Vec<Diagnostic>) {
    use crate::flow::TaskProps;
    if let TaskProps::Switch {
        cases, defaults, ..
    } = &task.props
        && cases.is_empty()
        && defaults.is_empty()
    {
        out.push(Diagnostic::error(
            task.position,
            format!("switch '{}' has no cases and no defaults", task.id),
        ));
    }
}
