//! Reading the top level of a flow document.

use std::cell::RefCell;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;

use super::ids;
use super::task::{Reader, collect};
use crate::diagnostic::{Diagnostic, closest};
use crate::flow::{Concurrency, Flow, FlowOutput, Retry, Task};
use crate::inputs::{InputSpec, check_spec};
use crate::yaml::{Node, NodeDeserializer, Plain, key_text};

/// Top-level keys Baton reads.
const FLOW_KEYS: &[&str] = &[
    "id",
    "namespace",
    "revision",
    "description",
    "labels",
    "inputs",
    "variables",
    "tasks",
    "errors",
    "finally",
    "afterExecution",
    "outputs",
    "pluginDefaults",
    "taskDefaults",
    "triggers",
    "concurrency",
    "retry",
    "disabled",
    "deleted",
    "tenantId",
];

/// Top-level keys Kestra has that Baton does not implement yet. Accepting them silently would
/// let a user believe they work.
const NOT_YET: &[&str] = &["sla", "checks", "listeners", "afterExecutionChecks"];

pub fn read_flow(root: &Node, problems: &RefCell<Vec<Diagnostic>>) -> Option<Flow> {
    let error = |node: &Node, message: String| {
        problems
            .borrow_mut()
            .push(Diagnostic::error(node.position(), message))
    };
    let Some(entries) = root.as_mapping() else {
        error(
            root,
            format!(
                "a flow must be a mapping with id, namespace and tasks, found {}",
                root.describe()
            ),
        );
        return None;
    };
    for (key, _) in entries {
        let name = key_text(key);
        if NOT_YET.contains(&name.as_str()) {
            error(key, format!("'{name}' is not supported by Baton yet"));
        } else if !FLOW_KEYS.contains(&name.as_str()) {
            let hint = closest(&name, FLOW_KEYS.iter().copied())
                .map(|c| format!(" (did you mean '{c}'?)"))
                .unwrap_or_default();
            error(key, format!("unknown flow property '{name}'{hint}"));
        }
    }

    let defaults = match (root.get("pluginDefaults"), root.get("taskDefaults")) {
        (Some(list), _) | (None, Some(list)) => super::defaults::read(list, problems),
        (None, None) => Vec::new(),
    };
    let reader = Reader { problems, defaults };

    let id = required_string(root, "id", problems);
    if let (Some(id), Some(node)) = (&id, root.get("id"))
        && let Err(message) = ids::check_id(id, "flow", true)
    {
        error(node, message);
    }
    let namespace = required_string(root, "namespace", problems);
    if let (Some(namespace), Some(node)) = (&namespace, root.get("namespace"))
        && let Err(message) = ids::check_namespace(namespace)
    {
        error(node, message);
    }
    let description = optional(root, "description", problems);
    let labels = read_labels(root.get("labels"), problems);
    let inputs = read_inputs(root.get("inputs"), problems);
    let variables = match root.get("variables") {
        None => Some(IndexMap::new()),
        Some(node) => match node.as_mapping() {
            Some(entries) => Some(
                entries
                    .iter()
                    .map(|(k, v)| (key_text(k), v.to_json()))
                    .collect(),
            ),
            None if node.is_null() => Some(IndexMap::new()),
            None => {
                error(
                    node,
                    format!("'variables' must be a mapping, found {}", node.describe()),
                );
                None
            }
        },
    };
    let tasks = match root.get("tasks") {
        None => {
            error(root, "flow is missing required property 'tasks'".to_owned());
            None
        }
        Some(list) if list.as_sequence().is_some_and(<[Node]>::is_empty) => {
            error(list, "'tasks' must hold at least one task".to_owned());
            None
        }
        Some(list) => collect(reader.task_list(list, "tasks")),
    };
    let task_list = |key: &str| -> Option<Vec<Task>> {
        match root.get(key) {
            None => Some(Vec::new()),
            Some(list) if list.is_null() => Some(Vec::new()),
            Some(list) => collect(reader.task_list(list, key)),
        }
    };
    let (errors, finally, after_execution) = (
        task_list("errors"),
        task_list("finally"),
        task_list("afterExecution"),
    );
    let outputs = list_of::<FlowOutput>(root.get("outputs"), "outputs", problems);
    let triggers = match root.get("triggers") {
        None => Some(Vec::new()),
        Some(node) => match node.as_sequence() {
            Some(items) => items
                .iter()
                .map(|item| reader.trigger(item))
                .collect::<Vec<_>>()
                .into_iter()
                .collect(),
            None if node.is_null() => Some(Vec::new()),
            None => {
                error(
                    node,
                    format!("'triggers' must be a list, found {}", node.describe()),
                );
                None
            }
        },
    };
    let concurrency = optional::<Concurrency>(root, "concurrency", problems);
    if let (Some(Some(c)), Some(node)) = (&concurrency, root.get("concurrency"))
        && c.limit == 0
    {
        error(
            node.get("limit").unwrap_or(node),
            "'concurrency.limit' must be at least 1".to_owned(),
        );
    }
    let retry = optional::<Retry>(root, "retry", problems);
    if let (Some(Some(policy)), Some(node)) = (&retry, root.get("retry")) {
        problems
            .borrow_mut()
            .extend(super::checks::check_retry(policy, node.position()));
    }
    let disabled = match root.get("disabled").map(|n| (n, n.plain())) {
        None => Some(false),
        Some((_, Some(Plain::Bool(b)))) => Some(b),
        Some((node, _)) => {
            error(
                node,
                format!(
                    "'disabled': expected true or false, found {}",
                    node.describe()
                ),
            );
            None
        }
    };

    Some(Flow {
        id: id?,
        namespace: namespace?,
        description: description?,
        labels: labels?,
        inputs: inputs?,
        variables: variables?,
        tasks: tasks?,
        errors: errors?,
        finally: finally?,
        after_execution: after_execution?,
        outputs: outputs?,
        triggers: triggers?,
        concurrency: concurrency?,
        retry: retry?,
        disabled: disabled?,
    })
}

fn required_string(root: &Node, key: &str, problems: &RefCell<Vec<Diagnostic>>) -> Option<String> {
    match root.get(key) {
        None => {
            problems.borrow_mut().push(Diagnostic::error(
                root.position(),
                format!("flow is missing required property '{key}'"),
            ));
            None
        }
        Some(node) => match node.as_str() {
            Some(text) => Some(text.to_owned()),
            None => {
                problems.borrow_mut().push(Diagnostic::error(
                    node.position(),
                    format!("'{key}': expected a string, found {}", node.describe()),
                ));
                None
            }
        },
    }
}

/// Reads an optional typed value; `Some(None)` when absent, `None` when invalid.
fn optional<T: DeserializeOwned>(
    root: &Node,
    key: &str,
    problems: &RefCell<Vec<Diagnostic>>,
) -> Option<Option<T>> {
    let Some(node) = root.get(key) else {
        return Some(None);
    };
    if node.is_null() {
        return Some(None);
    }
    read_typed(node, key, problems).map(Some)
}

fn read_typed<T: DeserializeOwned>(
    node: &Node,
    key: &str,
    problems: &RefCell<Vec<Diagnostic>>,
) -> Option<T> {
    T::deserialize(NodeDeserializer::new(node, problems))
        .map_err(|e| {
            let mut d = e.into_diagnostic(node.position());
            if !d.message.starts_with('\'') {
                d.message = format!("'{key}': {}", d.message);
            }
            problems.borrow_mut().push(d);
        })
        .ok()
}

/// Reads a list item by item, so one bad item does not hide problems in the others.
fn list_of<T: DeserializeOwned>(
    node: Option<&Node>,
    key: &str,
    problems: &RefCell<Vec<Diagnostic>>,
) -> Option<Vec<T>> {
    let Some(node) = node else {
        return Some(Vec::new());
    };
    if node.is_null() {
        return Some(Vec::new());
    }
    let Some(items) = node.as_sequence() else {
        problems.borrow_mut().push(Diagnostic::error(
            node.position(),
            format!("'{key}' must be a list, found {}", node.describe()),
        ));
        return None;
    };
    items
        .iter()
        .map(|item| read_typed::<T>(item, key, problems))
        .collect::<Vec<_>>()
        .into_iter()
        .collect()
}

fn read_inputs(node: Option<&Node>, problems: &RefCell<Vec<Diagnostic>>) -> Option<Vec<InputSpec>> {
    let specs = list_of::<InputSpec>(node, "inputs", problems);
    let items = node.and_then(Node::as_sequence).unwrap_or_default();
    if let Some(specs) = &specs {
        let mut seen: Vec<(&str, &Node)> = Vec::new();
        for (spec, item) in specs.iter().zip(items) {
            match seen.iter().find(|(id, _)| *id == spec.id) {
                Some((_, first)) => problems.borrow_mut().push(Diagnostic::error(
                    item.position(),
                    format!(
                        "duplicate input id '{}' (first used at {})",
                        spec.id,
                        first.position()
                    ),
                )),
                None => seen.push((&spec.id, item)),
            }
            for problem in check_spec(spec) {
                let at = item.entry(problem.field).map_or(item, |(key, _)| key);
                problems.borrow_mut().push(Diagnostic::error(
                    at.position(),
                    format!("input '{}': {}", spec.id, problem.message),
                ));
            }
        }
    }
    specs
}

/// Labels are a map `key: value` or a list of `{key, value}`; values are kept as text.
fn read_labels(
    node: Option<&Node>,
    problems: &RefCell<Vec<Diagnostic>>,
) -> Option<IndexMap<String, String>> {
    let Some(node) = node else {
        return Some(IndexMap::new());
    };
    let error = |node: &Node, message: String| {
        problems
            .borrow_mut()
            .push(Diagnostic::error(node.position(), message))
    };
    let text = |value: &Node| match value.as_str() {
        Some(text) => Some(text.to_owned()),
        None => {
            error(
                value,
                format!(
                    "a label value must be a plain value, found {}",
                    value.describe()
                ),
            );
            None
        }
    };
    let mut labels = IndexMap::new();
    if let Some(entries) = node.as_mapping() {
        for (key, value) in entries {
            labels.insert(key_text(key), text(value)?);
        }
    } else if let Some(items) = node.as_sequence() {
        for item in items {
            match (item.get("key").and_then(Node::as_str), item.get("value")) {
                (Some(key), Some(value)) if item.as_mapping().is_some_and(|e| e.len() == 2) => {
                    labels.insert(key.to_owned(), text(value)?);
                }
                _ => {
                    error(
                        item,
                        "a label in a list must be a mapping with exactly 'key' and 'value'"
                            .to_owned(),
                    );
                    return None;
                }
            }
        }
    } else if !node.is_null() {
        error(
            node,
            format!(
                "'labels' must be a mapping or a list of {{key, value}}, found {}",
                node.describe()
            ),
        );
        return None;
    }
    if let Some(key) = labels.keys().find(|k| k.starts_with("system.")) {
        error(
            node,
            format!("label '{key}': the 'system.' prefix is reserved"),
        );
        return None;
    }
    Some(labels)
}
