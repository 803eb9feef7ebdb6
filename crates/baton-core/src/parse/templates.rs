//! Checks every template in a flow: syntax errors are errors; reading the outputs of a task that
//! does not exist, or that only runs later, is a warning (Kestra accepts such flows).

use std::collections::HashMap;

use crate::diagnostic::{Diagnostic, Position};
use crate::flow::{Flow, TaskKind};
use crate::template::{TemplateEngine, is_template, output_references};
use crate::yaml::{Node, NodeKind, ScalarStyle, key_text};

/// Where in the flow a template sits, which decides what it may read.
#[derive(Clone, Copy)]
enum Owner<'a> {
    Task(&'a str),
    /// Flow variables, outputs, triggers and defaults: rendered when some task asks for them,
    /// so only the existence of the tasks they read can be checked.
    Other,
}

struct Walk<'a> {
    source_lines: Vec<&'a str>,
    engine: &'a TemplateEngine,
    /// Position of each task in run order, when the flow was read without errors.
    order: Option<HashMap<&'a str, usize>>,
    out: Vec<Diagnostic>,
}

pub fn check_templates(
    root: &Node,
    source: &str,
    engine: &TemplateEngine,
    flow: Option<&Flow>,
) -> Vec<Diagnostic> {
    let order = flow.map(|f| {
        f.all_tasks()
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t.id.as_str(), i))
            .collect()
    });
    let mut walk = Walk {
        source_lines: source.lines().collect(),
        engine,
        order,
        out: Vec::new(),
    };
    let Some(entries) = root.as_mapping() else {
        return walk.out;
    };
    for (key, value) in entries {
        match key_text(key).as_str() {
            "tasks" | "errors" | "finally" | "afterExecution" => walk.task_list(value),
            "description" => {}
            _ => walk.value(value, Owner::Other),
        }
    }
    walk.out
}

impl<'a> Walk<'a> {
    fn task_list(&mut self, list: &Node) {
        for task in list.as_sequence().unwrap_or_default() {
            self.task(task);
        }
    }

    fn task(&mut self, node: &Node) {
        let Some(entries) = node.as_mapping() else {
            return;
        };
        let id = node.get("id").and_then(Node::as_str).unwrap_or("");
        let kind = node
            .get("type")
            .and_then(Node::as_str)
            .and_then(TaskKind::from_type);
        let child_keys = kind.map(TaskKind::child_keys).unwrap_or_default();
        for (key, value) in entries {
            let name = key_text(key);
            if name == "description" {
                continue;
            }
            if child_keys.contains(&name.as_str()) {
                if name == "cases" {
                    for (_, list) in value.as_mapping().unwrap_or_default() {
                        self.task_list(list);
                    }
                } else {
                    self.task_list(value);
                }
                continue;
            }
            // Reading a copy of `id` keeps the borrow checker away from `self`.
            let owner_id: String = id.to_owned();
            self.value(value, Owner::Task(&owner_id));
        }
    }

    fn value(&mut self, node: &Node, owner: Owner<'_>) {
        match &node.kind {
            NodeKind::Scalar { text, .. } if is_template(text) => self.template(node, text, owner),
            NodeKind::Scalar { .. } => {}
            NodeKind::Sequence(items) => items.iter().for_each(|item| self.value(item, owner)),
            NodeKind::Mapping(entries) => {
                for (key, value) in entries {
                    if let NodeKind::Scalar { text, .. } = &key.kind
                        && is_template(text)
                    {
                        self.template(key, text, owner);
                    }
                    self.value(value, owner);
                }
            }
        }
    }

    fn template(&mut self, node: &Node, text: &str, owner: Owner<'_>) {
        if let Err(e) = self.engine.check(text) {
            let at = self.locate(node, e.line.unwrap_or(1), e.column.unwrap_or(1));
            self.out.push(Diagnostic::error(
                at,
                format!("template error: {}", e.message),
            ));
            return;
        }
        let Some(order) = &self.order else { return };
        for reference in output_references(text) {
            let at = self.locate(node, reference.line, reference.column);
            let target = reference.task_id.as_str();
            match (order.get(target), owner) {
                (None, _) => self.out.push(Diagnostic::warning(
                    at,
                    format!("reads outputs.{target}, but the flow has no task '{target}'"),
                )),
                (Some(&target_at), Owner::Task(reader)) => {
                    if order
                        .get(reader)
                        .is_some_and(|&reader_at| target_at >= reader_at)
                    {
                        let message = if target == reader {
                            format!(
                                "task '{reader}' reads its own outputs, which do not exist while it runs"
                            )
                        } else {
                            format!(
                                "task '{reader}' reads outputs.{target}, but '{target}' runs after it"
                            )
                        };
                        self.out.push(Diagnostic::warning(at, message));
                    }
                }
                (Some(_), Owner::Other) => {}
            }
        }
    }

    /// Maps a line and column inside a scalar's text back to the flow source. Saturating
    /// arithmetic: a position is a hint, never a reason to panic.
    fn locate(&self, node: &Node, line: u32, column: u32) -> Position {
        let start = node.position();
        let NodeKind::Scalar { style, .. } = &node.kind else {
            return start;
        };
        let (line, column) = (line.max(1), column.max(1));
        match style {
            ScalarStyle::Plain if line == 1 => Position::new(start.line, start.column + column - 1),
            ScalarStyle::Quoted if line == 1 => Position::new(start.line, start.column + column),
            _ => {
                // A block scalar's node starts at its first content line, so template line N
                // is source line start + N - 1, indented like the block's content.
                let source_line = start.line.saturating_add(line - 1);
                let indent = self
                    .source_lines
                    .get((source_line as usize).saturating_sub(1))
                    .map_or(0, |l| l.len() - l.trim_start().len());
                Position::new(
                    source_line,
                    u32::try_from(indent).unwrap_or(0).saturating_add(column),
                )
            }
        }
    }
}
