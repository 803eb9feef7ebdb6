//! The task graph of a flow, for the UI to draw as SVG and the CLI to print as a tree.
//!
//! Every flowable task becomes a cluster: an entry node (the task itself) and an exit node,
//! with its branches drawn between them. Sequences chain one task to the next; Parallel and
//! ForEach with concurrency fan out; `errors` hang off the cluster's entry, `finally` runs
//! before its exit.

use serde::Serialize;

use crate::flow::{Branch, Flow, Task, TaskKind, TaskProps};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GraphNode {
    /// Unique within the graph: the task id, or a task id with `.end`, or `root`/`end`.
    pub uid: String,
    pub task_id: Option<String>,
    pub kind: Option<TaskKind>,
    /// The cluster (flowable task id) the node sits in, if any.
    pub cluster: Option<String>,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    /// Which branch the edge enters: `then`, `case fast`, `errors`… Empty for plain sequences.
    pub label: String,
}

impl Graph {
    pub fn of(flow: &Flow) -> Self {
        let mut builder = Builder {
            graph: Graph {
                nodes: Vec::new(),
                edges: Vec::new(),
            },
        };
        builder.node(
            "root",
            None,
            None,
            format!("{}.{}", flow.namespace, flow.id),
        );
        builder.node("end", None, None, "end".to_owned());
        let last = builder.chain("root", &flow.tasks, None, "");
        let last = builder.chain(&last, &flow.finally, None, "finally");
        builder.edge(&last, "end", "");
        if !flow.errors.is_empty() {
            let last = builder.chain("root", &flow.errors, None, "errors");
            builder.edge(&last, "end", "");
        }
        if !flow.after_execution.is_empty() {
            builder.chain("end", &flow.after_execution, None, "afterExecution");
        }
        builder.graph
    }
}

struct Builder {
    graph: Graph,
}

impl Builder {
    fn node(&mut self, uid: &str, task: Option<&Task>, cluster: Option<&str>, label: String) {
        self.graph.nodes.push(GraphNode {
            uid: uid.to_owned(),
            task_id: task.map(|t| t.id.clone()),
            kind: task.map(|t| t.kind),
            cluster: cluster.map(str::to_owned),
            label,
        });
    }

    fn edge(&mut self, from: &str, to: &str, label: &str) {
        self.graph.edges.push(GraphEdge {
            from: from.to_owned(),
            to: to.to_owned(),
            label: label.to_owned(),
        });
    }

    /// Links `tasks` one after the other from `from`; returns the uid of the last exit.
    fn chain(
        &mut self,
        from: &str,
        tasks: &[Task],
        cluster: Option<&str>,
        first_label: &str,
    ) -> String {
        let mut previous = from.to_owned();
        for (i, task) in tasks.iter().enumerate() {
            let label = if i == 0 { first_label } else { "" };
            self.edge(&previous, &task.id, label);
            previous = self.task(task, cluster);
        }
        previous
    }

    /// Adds a task (and its cluster when flowable); returns the uid its successors link from.
    fn task(&mut self, task: &Task, cluster: Option<&str>) -> String {
        self.node(
            &task.id,
            Some(task),
            cluster,
            format!("{} ({})", task.id, task.kind.name()),
        );
        let branches = task.branches();
        if branches.is_empty() {
            return task.id.clone();
        }
        let exit = format!("{}.end", task.id);
        self.node(&exit, None, Some(&task.id), "end".to_owned());
        let fan_out = matches!(task.props, TaskProps::Parallel { .. });
        let mut finally = None;
        for (branch, children) in branches {
            match branch {
                Branch::Finally => finally = Some(children),
                Branch::Errors => {
                    let last = self.chain(&task.id, children, Some(&task.id), "errors");
                    self.edge(&last, &exit, "");
                }
                Branch::Tasks if fan_out => {
                    for child in children {
                        self.edge(&task.id, &child.id, "parallel");
                        let last = self.task(child, Some(&task.id));
                        self.edge(&last, &exit, "");
                    }
                }
                other => {
                    let label = match other {
                        Branch::Tasks => String::new(),
                        named => named.to_string(),
                    };
                    let last = self.chain(&task.id, children, Some(&task.id), &label);
                    self.edge(&last, &exit, "");
                }
            }
        }
        match finally {
            Some(children) => {
                let finally_exit = format!("{}.finally", task.id);
                self.node(&finally_exit, None, Some(&task.id), "finally".to_owned());
                let last = self.chain(&exit, children, Some(&task.id), "finally");
                self.edge(&last, &finally_exit, "");
                finally_exit
            }
            None => exit,
        }
    }
}

/// The flow's task tree as indented text, for `baton flow validate --graph`.
pub fn render_tree(flow: &Flow) -> String {
    let mut out = format!("{}.{}\n", flow.namespace, flow.id);
    let sections: Vec<(&str, &[Task])> = [
        ("tasks", flow.tasks.as_slice()),
        ("errors", flow.errors.as_slice()),
        ("finally", flow.finally.as_slice()),
        ("afterExecution", flow.after_execution.as_slice()),
    ]
    .into_iter()
    .filter(|(_, tasks)| !tasks.is_empty())
    .collect();
    let count = sections.len();
    for (i, (name, tasks)) in sections.into_iter().enumerate() {
        let last = i + 1 == count;
        out.push_str(&format!("{}{name}\n", if last { "└─ " } else { "├─ " }));
        tree_list(&mut out, tasks, if last { "   " } else { "│  " });
    }
    out
}

fn tree_list(out: &mut String, tasks: &[Task], prefix: &str) {
    for (i, task) in tasks.iter().enumerate() {
        let last = i + 1 == tasks.len();
        out.push_str(&format!(
            "{prefix}{}{} ({})",
            if last { "└─ " } else { "├─ " },
            task.id,
            task.kind.name()
        ));
        if task.common.disabled {
            out.push_str(" [disabled]");
        }
        out.push('\n');
        let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
        let branches = task.branches();
        let single_tasks_branch = branches.len() == 1 && matches!(branches[0].0, Branch::Tasks);
        if single_tasks_branch {
            tree_list(out, branches[0].1, &child_prefix);
            continue;
        }
        for (j, (branch, children)) in branches.iter().enumerate() {
            let last_branch = j + 1 == branches.len();
            out.push_str(&format!(
                "{child_prefix}{}{branch}\n",
                if last_branch { "└─ " } else { "├─ " }
            ));
            tree_list(
                out,
                children,
                &format!("{child_prefix}{}", if last_branch { "   " } else { "│  " }),
            );
        }
    }
}
