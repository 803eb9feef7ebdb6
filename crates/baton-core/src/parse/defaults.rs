//! `pluginDefaults`: values filled into every task (or trigger, or task runner) whose type
//! matches, as Kestra does before it reads a task.
//!
//! A default's `type` matches a plugin type exactly or as a dotted prefix
//! (`io.kestra.plugin.jdbc.postgresql` covers every Postgres task). Baton also matches it
//! against the Kestra names of the task's kind, so a task written `type: postgres.queries` gets
//! the same defaults as one written `io.kestra.plugin.jdbc.postgresql.Queries`.
//!
//! Non-forced values fill only what the task left unset (maps are merged key by key); forced
//! values overwrite. Entries listed first win over later ones.

use std::cell::RefCell;

use crate::diagnostic::Diagnostic;
use crate::yaml::{Node, NodeKind, key_text};

#[derive(Clone, Debug)]
pub struct PluginDefault {
    pub type_prefix: String,
    pub values: Vec<(Node, Node)>,
    pub forced: bool,
}

/// Reads the `pluginDefaults` (or older `taskDefaults`) list.
pub fn read(list: &Node, problems: &RefCell<Vec<Diagnostic>>) -> Vec<PluginDefault> {
    let mut out = Vec::new();
    let Some(items) = list.as_sequence() else {
        problems.borrow_mut().push(Diagnostic::error(
            list.position(),
            format!("pluginDefaults must be a list, found {}", list.describe()),
        ));
        return out;
    };
    for item in items {
        let report = |message: String| {
            problems
                .borrow_mut()
                .push(Diagnostic::error(item.position(), message))
        };
        let Some(entries) = item.as_mapping() else {
            report(format!(
                "a plugin default must be a mapping with type and values, found {}",
                item.describe()
            ));
            continue;
        };
        let mut default = PluginDefault {
            type_prefix: String::new(),
            values: Vec::new(),
            forced: false,
        };
        for (key, value) in entries {
            match key_text(key).as_str() {
                "type" => match value.as_str() {
                    Some(t) => default.type_prefix = t.to_owned(),
                    None => report(format!(
                        "'type': expected a string, found {}",
                        value.describe()
                    )),
                },
                "values" => match value.as_mapping() {
                    Some(values) => default.values = values.to_vec(),
                    None => report(format!(
                        "'values': expected a mapping, found {}",
                        value.describe()
                    )),
                },
                "forced" => match value.plain() {
                    Some(crate::yaml::Plain::Bool(b)) => default.forced = b,
                    _ => report(format!(
                        "'forced': expected true or false, found {}",
                        value.describe()
                    )),
                },
                other => {
                    let hint = crate::diagnostic::closest(other, ["type", "values", "forced"])
                        .map(|c| format!(" (did you mean '{c}'?)"))
                        .unwrap_or_default();
                    problems.borrow_mut().push(Diagnostic::error(
                        key.position(),
                        format!("unknown property '{other}' of a plugin default{hint}"),
                    ));
                }
            }
        }
        if default.type_prefix.is_empty() {
            problems.borrow_mut().push(Diagnostic::error(
                item.position(),
                "a plugin default needs a 'type'",
            ));
            continue;
        }
        out.push(default);
    }
    out
}

/// Whether a default written for `prefix` applies to a plugin known by any of `names`.
fn matches(prefix: &str, names: &[&str]) -> bool {
    names.iter().any(|name| {
        name == &prefix
            || name
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The node with the matching defaults merged in, and the keys that came only from defaults
/// (a broad default may set properties some matching types do not have; those are ignored
/// rather than reported as unknown).
pub fn apply(node: &Node, names: &[&str], defaults: &[PluginDefault]) -> (Node, Vec<String>) {
    let mut merged = node.clone();
    let mut injected = Vec::new();
    if let NodeKind::Mapping(entries) = &mut merged.kind {
        for default in defaults.iter().filter(|d| matches(&d.type_prefix, names)) {
            for (key, value) in &default.values {
                merge_entry(entries, key, value, default.forced, &mut injected);
            }
        }
        // Nested plugins, such as a script task's `taskRunner`, get their own defaults.
        for (_, value) in entries.iter_mut() {
            if let Some(nested_type) = value.get("type").and_then(Node::as_str).map(str::to_owned) {
                let runner_names = nested_names(&nested_type);
                let refs: Vec<&str> = runner_names.iter().map(String::as_str).collect();
                *value = apply(value, &refs, defaults).0;
            }
        }
    }
    (merged, injected)
}

fn nested_names(type_name: &str) -> Vec<String> {
    let mut names = vec![type_name.to_owned()];
    if let Some(kind) = crate::flow::RunnerKind::from_type(type_name) {
        names.push(kind.name().to_owned());
        names.extend(kind.kestra_names().iter().map(|s| (*s).to_owned()));
    }
    names
}

fn merge_entry(
    entries: &mut Vec<(Node, Node)>,
    key: &Node,
    value: &Node,
    forced: bool,
    injected: &mut Vec<String>,
) {
    let name = key_text(key);
    match entries.iter_mut().find(|(k, _)| key_text(k) == name) {
        None => {
            injected.push(name);
            entries.push((key.clone(), value.clone()));
        }
        Some((_, existing)) => match (&mut existing.kind, &value.kind) {
            (NodeKind::Mapping(inner), NodeKind::Mapping(default_inner)) => {
                let mut ignored = Vec::new();
                for (k, v) in default_inner {
                    merge_entry(inner, k, v, forced, &mut ignored);
                }
            }
            _ if forced => *existing = value.clone(),
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{YamlLimits, parse_documents};

    fn doc(source: &str) -> Node {
        parse_documents(source, &YamlLimits::default())
            .unwrap()
            .remove(0)
    }

    fn defaults(source: &str) -> Vec<PluginDefault> {
        let problems = RefCell::new(Vec::new());
        let out = read(&doc(source), &problems);
        assert!(problems.borrow().is_empty(), "{:?}", problems.borrow());
        out
    }

    #[test]
    fn prefix_defaults_fill_unset_values_only() {
        let d = defaults(
            "- type: io.kestra.plugin.jdbc.postgresql\n  values: {url: 'jdbc:x', username: u, options: {a: 1, b: 2}}\n",
        );
        let task = doc(
            "id: t\ntype: io.kestra.plugin.jdbc.postgresql.Queries\nusername: mine\noptions: {a: 9}\n",
        );
        let (merged, injected) = apply(&task, &["io.kestra.plugin.jdbc.postgresql.Queries"], &d);
        assert_eq!(
            merged.to_json(),
            serde_json::json!({"id": "t", "type": "io.kestra.plugin.jdbc.postgresql.Queries", "username": "mine", "options": {"a": 9, "b": 2}, "url": "jdbc:x"})
        );
        assert_eq!(injected, ["url"]);
    }

    #[test]
    fn forced_defaults_overwrite_and_prefixes_stop_at_dots() {
        let d = defaults(
            "- type: io.kestra.plugin.core.log\n  forced: true\n  values: {level: ERROR}\n",
        );
        let task = doc("id: t\ntype: io.kestra.plugin.core.log.Log\nlevel: INFO\n");
        let (merged, _) = apply(&task, &["io.kestra.plugin.core.log.Log"], &d);
        assert_eq!(merged.get("level").unwrap().as_str(), Some("ERROR"));
        let (untouched, _) = apply(&task, &["io.kestra.plugin.core.logger.Other"], &d);
        assert_eq!(untouched.get("level").unwrap().as_str(), Some("INFO"));
    }

    #[test]
    fn nested_task_runners_get_their_defaults() {
        let d = defaults(
            "- type: io.kestra.plugin.scripts.runner.docker.Docker\n  values: {pullPolicy: NEVER}\n",
        );
        let task = doc("id: t\ntype: shell.commands\ntaskRunner: {type: docker}\n");
        let (merged, _) = apply(&task, &["shell.commands"], &d);
        assert_eq!(
            merged
                .get("taskRunner")
                .unwrap()
                .get("pullPolicy")
                .unwrap()
                .as_str(),
            Some("NEVER")
        );
    }
}
