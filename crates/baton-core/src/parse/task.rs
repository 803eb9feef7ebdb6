//! Reading tasks and triggers, with `pluginDefaults` applied, reporting every problem.

use std::cell::RefCell;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;

use super::defaults::{self, PluginDefault};
use super::ids;
use crate::diagnostic::{Diagnostic, closest};
use crate::flow::kinds::{all_names, resolve};
use crate::flow::task::{ForEachProps, IfProps, ParallelProps, SwitchProps};
use crate::flow::trigger::{Trigger, TriggerCommon, TriggerProps};
use crate::flow::{Task, TaskCommon, TaskKind, TaskProps, TriggerKind};
use crate::yaml::{DeError, Node, NodeDeserializer, key_text, struct_fields};

/// Shared state of one flow's reading.
pub struct Reader<'a> {
    pub problems: &'a RefCell<Vec<Diagnostic>>,
    pub defaults: Vec<PluginDefault>,
}

impl<'a> Reader<'a> {
    pub(super) fn error(&self, node: &Node, message: impl Into<String>) {
        self.problems
            .borrow_mut()
            .push(Diagnostic::error(node.position(), message));
    }

    /// Reads a list of tasks; `None` items were invalid and have been reported.
    pub fn task_list(&self, node: &Node, key: &str) -> Vec<Option<Task>> {
        let Some(items) = node.as_sequence() else {
            self.error(
                node,
                format!("'{key}' must be a list of tasks, found {}", node.describe()),
            );
            return Vec::new();
        };
        items.iter().map(|item| self.task(item)).collect()
    }

    /// Reads a list of tasks that must be present and non-empty in `parent`.
    fn required_tasks(&self, parent: &Node, key: &str) -> Option<Vec<Task>> {
        match parent.get(key) {
            None => {
                self.error(parent, format!("missing required property '{key}'"));
                None
            }
            Some(list) if list.as_sequence().is_some_and(<[Node]>::is_empty) => {
                self.error(list, format!("'{key}' must hold at least one task"));
                None
            }
            Some(list) => collect(self.task_list(list, key)),
        }
    }

    fn optional_tasks(&self, parent: &Node, key: &str) -> Option<Vec<Task>> {
        match parent.get(key) {
            None => Some(Vec::new()),
            Some(list) if list.is_null() => Some(Vec::new()),
            Some(list) => collect(self.task_list(list, key)),
        }
    }

    pub fn task(&self, node: &Node) -> Option<Task> {
        let family = Family {
            what: "task",
            all: TaskKind::ALL,
            name: TaskKind::name,
            kestra: TaskKind::kestra_names,
        };
        let plugin = self.plugin(node, &family)?;
        let (kind, merged) = (plugin.kind, &plugin.merged);
        let parts = Parts {
            reader: self,
            node: merged,
            consumed: RefCell::new(vec!["id", "type"]),
        };
        let common = parts.part::<TaskCommon>();
        if let (Some(retry), Some(node)) = (
            common.as_ref().and_then(|c| c.retry.as_ref()),
            merged.get("retry"),
        ) {
            self.problems
                .borrow_mut()
                .extend(super::checks::check_retry(retry, node.position()));
        }
        let props = parts.task_props(kind);
        let flowable = kind.is_flowable();
        let errors = if flowable {
            self.optional_tasks(merged, "errors")
        } else {
            Some(Vec::new())
        };
        let finally = if flowable {
            self.optional_tasks(merged, "finally")
        } else {
            Some(Vec::new())
        };
        parts.consumed.borrow_mut().extend(kind.child_keys());
        parts.report_unknown(&plugin.injected, "task");
        self.check_files(merged, kind);
        Some(Task {
            id: plugin.id?,
            kind,
            type_name: plugin.type_name,
            position: node.position(),
            common: common?,
            props: props?,
            errors: errors?,
            finally: finally?,
        })
    }

    pub fn trigger(&self, node: &Node) -> Option<Trigger> {
        let family = Family {
            what: "trigger",
            all: TriggerKind::ALL,
            name: TriggerKind::name,
            kestra: TriggerKind::kestra_names,
        };
        let plugin = self.plugin(node, &family)?;
        let merged = &plugin.merged;
        let parts = Parts {
            reader: self,
            node: merged,
            consumed: RefCell::new(vec!["id", "type"]),
        };
        let common = parts.part::<TriggerCommon>();
        let props = match plugin.kind {
            TriggerKind::Schedule => parts.part().map(TriggerProps::Schedule),
            TriggerKind::Flow => parts.part().map(TriggerProps::Flow),
            TriggerKind::Webhook => parts.part().map(TriggerProps::Webhook),
        };
        parts.report_unknown(&plugin.injected, "trigger");
        if let Some(TriggerProps::Schedule(schedule)) = &props {
            self.check_schedule(merged, schedule);
        }
        if let Some(props) = &props {
            self.check_event_trigger(merged, props);
        }
        Some(Trigger {
            id: plugin.id?,
            kind: plugin.kind,
            type_name: plugin.type_name,
            position: node.position(),
            common: common?,
            props: props?,
        })
    }

    /// Reads what tasks and triggers share: the mapping, its `id` and `type`, the kind the type
    /// names, and the mapping with `pluginDefaults` merged in. `None` when the kind is unknown.
    fn plugin<K: Copy>(&self, node: &Node, family: &Family<K>) -> Option<Plugin<K>> {
        let what = family.what;
        if node.as_mapping().is_none() {
            self.error(
                node,
                format!(
                    "a {what} must be a mapping with an id and a type, found {}",
                    node.describe()
                ),
            );
            return None;
        }
        let id = self.required_string(node, "id", what);
        if let Some(id) = &id
            && let Err(message) = ids::check_id(id, what, false)
        {
            self.error(node.get("id").unwrap_or(node), message);
        }
        let type_name = self.required_string(node, "type", what)?;
        let Some(kind) = resolve(&type_name, family.all, family.name, family.kestra) else {
            self.unknown_type(
                node,
                &type_name,
                what,
                &all_names(family.all, family.name, family.kestra),
            );
            return None;
        };
        let mut names = vec![type_name.as_str(), (family.name)(kind)];
        names.extend((family.kestra)(kind));
        let (merged, injected) = defaults::apply(node, &names, &self.defaults);
        Some(Plugin {
            id,
            type_name,
            kind,
            merged,
            injected,
        })
    }

    fn required_string(&self, node: &Node, key: &str, what: &str) -> Option<String> {
        match node.get(key) {
            Some(value) => match value.as_str() {
                Some(text) => Some(text.to_owned()),
                None => {
                    self.error(
                        value,
                        format!("'{key}': expected a string, found {}", value.describe()),
                    );
                    None
                }
            },
            None => {
                self.error(node, format!("{what} is missing required property '{key}'"));
                None
            }
        }
    }

    fn unknown_type(&self, node: &Node, type_name: &str, what: &str, names: &[&str]) {
        let at = node.get("type").unwrap_or(node);
        // Suggest only a near miss within the same plugin package: offering a Postgres task to
        // someone who wrote a BigQuery one would mislead.
        let package = |name: &str| name.rsplit_once('.').map(|(p, _)| p.to_owned());
        let suggestion = closest(type_name, names.iter().copied())
            .filter(|c| package(c) == package(type_name) || !type_name.contains('.'));
        let message = match suggestion {
            Some(c) => format!("unknown {what} type '{type_name}' (did you mean {c}?)"),
            None if type_name.starts_with("io.kestra.") => format!(
                "{what} type '{type_name}' is not supported by Baton (docs/compatibility.md lists the supported types)"
            ),
            None => format!("unknown {what} type '{type_name}'"),
        };
        self.error(at, message);
    }

    /// `inputFiles` names and `outputFiles` patterns must stay inside the working directory.
    fn check_files(&self, node: &Node, kind: TaskKind) {
        let takes_files = matches!(
            kind,
            TaskKind::ShellCommands
                | TaskKind::ShellScript
                | TaskKind::PythonScript
                | TaskKind::PythonCommands
                | TaskKind::DuckdbQueries
                | TaskKind::DuckdbQuery
                | TaskKind::WorkingDirectory
        );
        if !takes_files {
            return;
        }
        if let Some(entries) = node.get("inputFiles").and_then(Node::as_mapping) {
            for (key, _) in entries {
                if let Err(message) = ids::check_relative_path(&key_text(key)) {
                    self.error(key, format!("'inputFiles': {message}"));
                }
            }
        }
        if let Some(items) = node.get("outputFiles").and_then(Node::as_sequence) {
            for item in items {
                if let Some(pattern) = item.as_str()
                    && let Err(message) = ids::check_relative_path(pattern)
                {
                    self.error(item, format!("'outputFiles': {message}"));
                }
            }
        }
    }

    fn check_schedule(&self, node: &Node, schedule: &crate::flow::trigger::ScheduleProps) {
        if let Err(message) = crate::cron::check(&schedule.cron, schedule.with_seconds) {
            self.error(
                node.get("cron").unwrap_or(node),
                format!("'cron': {message}"),
            );
        }
        if let Some(zone) = &schedule.timezone
            && zone.parse::<chrono_tz::Tz>().is_err()
        {
            self.error(node.get("timezone").unwrap_or(node), format!("'timezone': unknown time zone '{zone}' (expected an IANA name such as Europe/Paris)"));
        }
    }
}

/// One family of plugin kinds (tasks or triggers) and how its type names resolve.
struct Family<K: 'static> {
    what: &'static str,
    all: &'static [K],
    name: fn(K) -> &'static str,
    kestra: fn(K) -> &'static [&'static str],
}

/// A task or trigger mapping whose kind is known, with its defaults applied.
struct Plugin<K> {
    id: Option<String>,
    type_name: String,
    kind: K,
    merged: Node,
    /// Keys that only `pluginDefaults` set.
    injected: Vec<String>,
}

/// A task or trigger mapping being read as several parts; tracks which keys some part took.
struct Parts<'r, 'a> {
    reader: &'r Reader<'a>,
    node: &'r Node,
    consumed: RefCell<Vec<&'static str>>,
}

impl Parts<'_, '_> {
    fn part<T: DeserializeOwned>(&self) -> Option<T> {
        self.consumed.borrow_mut().extend(struct_fields::<T>());
        let de = NodeDeserializer::part_of(self.node, self.reader.problems);
        T::deserialize(de)
            .map_err(|e: DeError| {
                self.reader
                    .problems
                    .borrow_mut()
                    .push(e.into_diagnostic(self.node.position()))
            })
            .ok()
    }

    fn task_props(&self, kind: TaskKind) -> Option<TaskProps> {
        let r = self.reader;
        let n = self.node;
        Some(match kind {
            TaskKind::Log => TaskProps::Log(self.part()?),
            TaskKind::Return => TaskProps::Return(self.part()?),
            TaskKind::Sleep => TaskProps::Sleep(self.part()?),
            TaskKind::If => {
                let props = self.part::<IfProps>();
                let (then, else_) = (r.required_tasks(n, "then"), r.optional_tasks(n, "else"));
                TaskProps::If {
                    condition: props?.condition,
                    then: then?,
                    else_: else_?,
                }
            }
            TaskKind::Switch => {
                let props = self.part::<SwitchProps>();
                let (cases, defaults) = (self.cases(), r.optional_tasks(n, "defaults"));
                TaskProps::Switch {
                    value: props?.value,
                    cases: cases?,
                    defaults: defaults?,
                }
            }
            TaskKind::Parallel => {
                let props = self.part::<ParallelProps>();
                let tasks = r.required_tasks(n, "tasks");
                TaskProps::Parallel {
                    concurrent: props?.concurrent,
                    tasks: tasks?,
                }
            }
            TaskKind::Sequential => TaskProps::Sequential {
                tasks: r.required_tasks(n, "tasks")?,
            },
            TaskKind::ForEach => {
                let props = self.part::<ForEachProps>();
                let tasks = r.required_tasks(n, "tasks");
                let props = props?;
                TaskProps::ForEach {
                    values: props.values,
                    concurrency_limit: props.concurrency_limit,
                    tasks: tasks?,
                }
            }
            TaskKind::WorkingDirectory => {
                let files = self.part();
                let tasks = r.required_tasks(n, "tasks");
                TaskProps::WorkingDirectory {
                    files: files?,
                    tasks: tasks?,
                }
            }
            TaskKind::Subflow => TaskProps::Subflow(self.part()?),
            TaskKind::Pause => TaskProps::Pause(self.part()?),
            TaskKind::Fail => TaskProps::Fail(self.part()?),
            TaskKind::Labels => TaskProps::Labels(self.part()?),
            TaskKind::OutputValues => TaskProps::OutputValues(self.part()?),
            TaskKind::HttpDownload => TaskProps::HttpDownload(self.part()?),
            TaskKind::HttpRequest => TaskProps::HttpRequest(self.part()?),
            TaskKind::ShellCommands => two(self.part(), self.part(), TaskProps::ShellCommands)?,
            TaskKind::ShellScript => two(self.part(), self.part(), TaskProps::ShellScript)?,
            TaskKind::PythonScript => two(self.part(), self.part(), TaskProps::PythonScript)?,
            TaskKind::PythonCommands => two(self.part(), self.part(), TaskProps::PythonCommands)?,
            TaskKind::PostgresQueries => two(self.part(), self.part(), TaskProps::PostgresQueries)?,
            TaskKind::PostgresQuery => two(self.part(), self.part(), TaskProps::PostgresQuery)?,
            TaskKind::PostgresCopyIn => three(
                self.part(),
                self.part(),
                self.part(),
                TaskProps::PostgresCopyIn,
            )?,
            TaskKind::PostgresCopyOut => three(
                self.part(),
                self.part(),
                self.part(),
                TaskProps::PostgresCopyOut,
            )?,
            TaskKind::DuckdbQueries => TaskProps::DuckdbQueries(self.part()?),
            TaskKind::DuckdbQuery => TaskProps::DuckdbQuery(self.part()?),
            TaskKind::KvSet => TaskProps::KvSet(self.part()?),
            TaskKind::KvGet => TaskProps::KvGet(self.part()?),
            TaskKind::KvDelete => TaskProps::KvDelete(self.part()?),
            TaskKind::PurgeCurrentExecutionFiles => TaskProps::PurgeCurrentExecutionFiles,
        })
    }

    /// Switch `cases`: a mapping from value to a list of tasks.
    fn cases(&self) -> Option<IndexMap<String, Vec<Task>>> {
        let Some(node) = self.node.get("cases") else {
            self.reader
                .error(self.node, "missing required property 'cases'");
            return None;
        };
        let Some(entries) = node.as_mapping() else {
            self.reader.error(
                node,
                format!(
                    "'cases' must map each value to a list of tasks, found {}",
                    node.describe()
                ),
            );
            return None;
        };
        let mut cases = IndexMap::new();
        let mut ok = true;
        for (key, list) in entries {
            match collect(self.reader.task_list(list, "cases")) {
                Some(tasks) => {
                    cases.insert(key_text(key), tasks);
                }
                None => ok = false,
            }
        }
        ok.then_some(cases)
    }

    fn report_unknown(&self, injected: &[String], what: &str) {
        let consumed = self.consumed.borrow();
        for (key, _) in self.node.as_mapping().unwrap_or_default() {
            let name = key_text(key);
            if consumed.contains(&name.as_str()) || injected.contains(&name) {
                continue;
            }
            let hint = closest(&name, consumed.iter().copied())
                .map(|c| format!(" (did you mean '{c}'?)"))
                .unwrap_or_default();
            let kind = self.node.get("type").and_then(Node::as_str).unwrap_or(what);
            self.reader.error(
                key,
                format!("unknown property '{name}' for {what} type {kind}{hint}"),
            );
        }
    }
}

fn three<A, B, C, T>(
    a: Option<A>,
    b: Option<B>,
    c: Option<C>,
    make: fn(A, B, C) -> T,
) -> Option<T> {
    Some(make(a?, b?, c?))
}

fn two<A, B, T>(a: Option<A>, b: Option<B>, make: fn(A, B) -> T) -> Option<T> {
    Some(make(a?, b?))
}

/// All tasks of a list, or `None` when any of them was invalid.
pub fn collect(tasks: Vec<Option<Task>>) -> Option<Vec<Task>> {
    tasks.into_iter().collect()
}
