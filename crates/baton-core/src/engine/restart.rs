//! Running an execution again: restart (same execution, from what failed) and replay (a new
//! execution that reuses what ran before a chosen task run).

use chrono::{DateTime, Utc};

use super::advance::Engine;
use crate::execution::{Execution, State, StateChange, TaskRun};
use crate::flow::Flow;

/// Handler branches run again after a restart or a replay only if the new run needs them.
fn is_handler(run: &TaskRun) -> bool {
    matches!(run.branch.as_deref(), Some("errors" | "finally"))
}

impl Engine<'_, '_> {
    /// Failed, killed and cancelled task runs get a fresh attempt (runnable) or go back to
    /// running (flowable); what succeeded stays as it was; handler runs are dropped so they run
    /// again only if needed. A QUEUED execution is a restart that waited for a concurrency
    /// slot (the executor queued it instead of restarting it) and restarts the same way.
    pub(super) fn restart(&mut self, execution: &mut Execution) {
        if !matches!(
            execution.state,
            State::Failed | State::Killed | State::Cancelled | State::Queued
        ) {
            return;
        }
        let now = self.ctx.now;
        drop_handlers(execution);
        let flow = self.ctx.flow;
        for index in 0..execution.task_runs.len() {
            let run = &execution.task_runs[index];
            if !run.state.is_failure() {
                continue;
            }
            let task = flow.find_task(&run.task_id);
            if let Some(crate::flow::TaskProps::Subflow(subflow)) = task.map(|t| &t.props) {
                self.restart_subflow(execution, index, subflow);
                continue;
            }
            let flowable = task.is_some_and(|t| t.kind.is_flowable());
            let run = &mut execution.task_runs[index];
            run.error = None;
            if flowable {
                run.set_state(State::Running, now);
            } else {
                self.new_attempt(run);
            }
        }
        execution.error = None;
        execution.ended_at = None;
        execution.set_state(State::Running, now);
    }
}

/// Removes handler task runs and everything under them.
fn drop_handlers(execution: &mut Execution) {
    let mut doomed: Vec<String> = execution
        .task_runs
        .iter()
        .filter(|r| is_handler(r))
        .map(|r| r.id.clone())
        .collect();
    let mut i = 0;
    while i < doomed.len() {
        let parent = doomed[i].clone();
        doomed.extend(
            execution
                .task_runs
                .iter()
                .filter(|r| r.parent_id.as_deref() == Some(&parent))
                .map(|r| r.id.clone()),
        );
        i += 1;
    }
    execution.task_runs.retain(|r| !doomed.contains(&r.id));
}

/// A new execution replaying `source` from `task_run_id`: task runs that come before it in the
/// flow keep their results, the chosen one and everything after run again. `None` when the
/// task run is not in the execution.
pub fn replay(
    flow: &Flow,
    source: &Execution,
    task_run_id: &str,
    new_id: String,
    now: DateTime<Utc>,
) -> Option<Execution> {
    let chosen = source.task_run(task_run_id)?;
    let order: Vec<&str> = flow
        .all_tasks()
        .into_iter()
        .map(|t| t.id.as_str())
        .collect();
    let position = |task_id: &str| {
        order
            .iter()
            .position(|id| *id == task_id)
            .unwrap_or(usize::MAX)
    };
    let cut = position(&chosen.task_id);
    let ancestors = ancestors(source, chosen);

    let mut execution = Execution::new(
        new_id,
        &source.namespace,
        &source.flow_id,
        source.flow_revision,
        now,
    );
    execution.inputs = source.inputs.clone();
    execution.labels = source.labels.clone();
    execution.trigger = source.trigger.clone();
    execution.original_id = Some(
        source
            .original_id
            .clone()
            .unwrap_or_else(|| source.id.clone()),
    );
    for run in &source.task_runs {
        if ancestors.contains(&run.id) {
            // Flowables above the chosen task run continue; their earlier children are kept.
            let mut kept = run.clone();
            kept.history.push(StateChange {
                state: State::Running,
                at: now,
            });
            kept.state = State::Running;
            execution.task_runs.push(kept);
        } else if position(&run.task_id) < cut
            && !is_handler(run)
            && run.state.is_terminal()
            && !run.state.is_failure()
        {
            execution.task_runs.push(run.clone());
        }
    }
    // Keep only runs whose parent was kept, so nothing hangs under a dropped flowable.
    let kept: Vec<String> = execution.task_runs.iter().map(|r| r.id.clone()).collect();
    execution
        .task_runs
        .retain(|r| r.parent_id.as_ref().is_none_or(|p| kept.contains(p)));
    Some(execution)
}

fn ancestors(execution: &Execution, run: &TaskRun) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = run.parent_id.clone();
    while let Some(id) = current {
        current = execution.task_run(&id).and_then(|r| r.parent_id.clone());
        out.push(id);
        if out.len() > 64 {
            break;
        }
    }
    out
}
