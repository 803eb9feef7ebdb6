//! The timeline of an execution's task runs: one bar per task run from its creation to its
//! end (or now), with its attempts drawn inside, positioned in percent of the execution's
//! span so the page needs no script to lay it out.

use std::collections::HashMap;

use baton_core::execution::{Execution, TaskRun};
use chrono::{DateTime, Utc};

use super::view::{duration_text, state_class};

/// A stretch of the timeline, in percent of the execution's span.
pub struct Segment {
    pub left: String,
    pub width: String,
    pub class: String,
    pub title: String,
}

pub struct GanttRow {
    pub task_run_id: String,
    /// The task id, with the ForEach value when there is one.
    pub label: String,
    /// How deep the task run is nested under flowable task runs.
    pub depth: usize,
    pub bar: Segment,
    pub attempts: Vec<Segment>,
}

pub struct Gantt {
    pub rows: Vec<GanttRow>,
    /// The whole span, as text.
    pub total: String,
}

/// A task run as people name it: its task, and its ForEach value when it has one.
pub fn task_run_label(run: &TaskRun) -> String {
    match &run.value {
        Some(value) => format!("{} [{value}]", run.task_id),
        None => run.task_id.clone(),
    }
}

pub fn gantt(execution: &Execution, now: DateTime<Utc>) -> Gantt {
    let start = execution.created_at;
    let end = execution.ended_at.unwrap_or(now).max(start);
    let span = (end - start).num_milliseconds().max(1) as f64;
    let percent = |at: DateTime<Utc>| {
        ((at - start).num_milliseconds() as f64 / span * 100.0).clamp(0.0, 100.0)
    };
    let segment = |from: DateTime<Utc>, to: DateTime<Utc>, class: String, title: String| {
        let left = percent(from);
        // A bar of a few milliseconds still shows.
        let width = (percent(to) - left).max(0.4).min(100.0 - left);
        Segment {
            left: format!("{left:.2}%"),
            width: format!("{width:.2}%"),
            class,
            title,
        }
    };
    let parents: HashMap<&str, Option<&str>> = execution
        .task_runs
        .iter()
        .map(|run| (run.id.as_str(), run.parent_id.as_deref()))
        .collect();
    let depth = |run: &TaskRun| {
        let mut depth = 0;
        let mut up = run.parent_id.as_deref();
        while let Some(parent) = up {
            depth += 1;
            up = parents.get(parent).copied().flatten();
            if depth > 64 {
                break;
            }
        }
        depth
    };
    let rows = execution
        .task_runs
        .iter()
        .map(|run| {
            let created = run.history.first().map_or(start, |change| change.at);
            let finished = if run.state.is_terminal() {
                run.history.last().map_or(end, |change| change.at)
            } else {
                end
            };
            let label = task_run_label(run);
            let attempts = run
                .attempts
                .iter()
                .enumerate()
                .filter_map(|(i, attempt)| {
                    let began = attempt.started_at?;
                    let ended = attempt.ended_at.unwrap_or(end);
                    Some(segment(
                        began,
                        ended,
                        state_class(attempt.state),
                        format!(
                            "attempt {} {} ({}){}",
                            i + 1,
                            attempt.state,
                            duration_text(ended - began),
                            attempt
                                .worker_id
                                .as_ref()
                                .map(|w| format!(" on {w}"))
                                .unwrap_or_default()
                        ),
                    ))
                })
                .collect();
            GanttRow {
                task_run_id: run.id.clone(),
                depth: depth(run),
                bar: segment(
                    created,
                    finished,
                    state_class(run.state),
                    format!(
                        "{label}: {} after {} ({} attempt{})",
                        run.state,
                        duration_text(finished - created),
                        run.attempts.len(),
                        if run.attempts.len() == 1 { "" } else { "s" }
                    ),
                ),
                label,
                attempts,
            }
        })
        .collect();
    Gantt {
        rows,
        total: duration_text(end - start),
    }
}
