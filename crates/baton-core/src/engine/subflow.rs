//! Subflow: a parent execution and its children, seen from the engine.
//!
//! Starting a child is [`Action::StartSubflow`]: the executor creates the child's execution in
//! the same transaction and steps the parent again with [`Event::SubflowStarted`] or
//! [`Event::SubflowRefused`]. The child keeps a [`ParentExecution`] link; when it ends, its own
//! step sends [`Event::SubflowEnded`] to the parent ([`Action::Notify`]). Kills and restarts go
//! down the same way, as [`Event::Kill`] and [`Event::Restart`] notified to the child.

use serde_json::{Map, Value};

use super::advance::Engine;
use super::flowables::label_pairs;
use super::{Action, Event, MAX_SUBFLOW_DEPTH, SubflowStart};
use crate::execution::{Execution, ParentExecution, State, task_context};
use crate::flow::props::{SubflowProps, SubflowRestartBehavior};
use crate::flow::{Flow, TaskProps};

/// The task run output naming the child execution, set when the child is asked for.
const EXECUTION_ID: &str = "executionId";
/// The task run output holding the child's final state, set when the parent learns it.
const CHILD_STATE: &str = "state";

impl Engine<'_, '_> {
    pub(super) fn start_subflow(
        &mut self,
        execution: &mut Execution,
        index: usize,
        subflow: &SubflowProps,
    ) {
        if execution.task_runs[index].state != State::Created {
            return;
        }
        match self.subflow_start(execution, index, subflow) {
            Ok(start) => {
                execution.task_runs[index]
                    .outputs
                    .insert(EXECUTION_ID.into(), start.execution_id.clone().into());
                self.mark_running(execution, index);
                self.actions.push(Action::StartSubflow(Box::new(start)));
            }
            Err(message) => self.fail(execution, index, message),
        }
    }

    /// Renders what the child needs; an error names the property that could not be rendered.
    fn subflow_start(
        &mut self,
        execution: &Execution,
        index: usize,
        subflow: &SubflowProps,
    ) -> Result<SubflowStart, String> {
        let namespace = self
            .render_text(execution, index, &subflow.namespace)
            .map_err(|e| format!("namespace: {e}"))?;
        let flow_id = self
            .render_text(execution, index, &subflow.flow_id)
            .map_err(|e| format!("flowId: {e}"))?;
        let mut call_chain = execution
            .parent_execution
            .as_ref()
            .map(|p| p.call_chain.clone())
            .unwrap_or_default();
        call_chain.push(format!("{}.{}", execution.namespace, execution.flow_id));
        if call_chain.len() > MAX_SUBFLOW_DEPTH {
            return Err(format!(
                "subflow {namespace}.{flow_id} not started: subflows nest at most \
                 {MAX_SUBFLOW_DEPTH} levels deep ({} → {namespace}.{flow_id})",
                call_chain.join(" → ")
            ));
        }
        let inputs = serde_json::to_value(&subflow.inputs).unwrap_or_default();
        let inputs = match self.render_value(execution, index, &inputs) {
            Ok(Value::Object(map)) => map,
            Ok(_) => Map::new(),
            Err(message) => return Err(format!("inputs: {message}")),
        };
        let labels = match &subflow.labels {
            Some(labels) => self
                .render_value(execution, index, labels)
                .and_then(label_pairs)
                .map_err(|e| format!("labels: {e}"))?,
            None => Vec::new(),
        };
        let inherited_labels = if subflow.inherit_labels {
            execution
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let schedule_date = match &subflow.schedule_date {
            Some(text) => {
                let rendered = self
                    .render_text(execution, index, text)
                    .map_err(|e| format!("scheduleDate: {e}"))?;
                let date = chrono::DateTime::parse_from_rfc3339(rendered.trim()).map_err(|_| {
                    format!(
                        "scheduleDate: '{rendered}' is not an ISO-8601 date-time with an offset"
                    )
                })?;
                Some(date.to_utc())
            }
            None => None,
        };
        let run = &execution.task_runs[index];
        let parent = ParentExecution {
            execution_id: execution.id.clone(),
            namespace: execution.namespace.clone(),
            flow_id: execution.flow_id.clone(),
            flow_revision: execution.flow_revision,
            task_run_id: run.id.clone(),
            task_id: run.task_id.clone(),
            task_run_value: run.value.clone(),
            task_run_iteration: run.iteration,
            wait: subflow.wait,
            outputs: subflow
                .outputs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            call_chain,
        };
        Ok(SubflowStart {
            task_run_id: run.id.clone(),
            execution_id: (self.ctx.new_id)(),
            namespace,
            flow_id,
            revision: subflow.revision,
            inputs,
            inherited_labels,
            labels,
            schedule_date,
            parent,
        })
    }

    /// The child exists: a task that does not wait for it is done.
    pub(super) fn subflow_started(&mut self, execution: &mut Execution, task_run_id: &str) {
        let Some((index, subflow)) = subflow_run(self.ctx.flow, execution, task_run_id) else {
            return;
        };
        if !subflow.wait {
            execution.task_runs[index].set_state(State::Success, self.ctx.now);
        }
    }

    pub(super) fn subflow_refused(
        &mut self,
        execution: &mut Execution,
        task_run_id: &str,
        error: &str,
    ) {
        let Some((index, _)) = subflow_run(self.ctx.flow, execution, task_run_id) else {
            return;
        };
        // The child was never created: nothing to kill or restart later.
        execution.task_runs[index].outputs.remove(EXECUTION_ID);
        self.fail(execution, index, error.to_owned());
    }

    /// The child ended: a task that waits for it takes its outputs and, through
    /// [`task_state`], its state. The end of any other execution (an older child replaced by a
    /// restart) is ignored.
    pub(super) fn subflow_ended(
        &mut self,
        execution: &mut Execution,
        task_run_id: &str,
        child_id: &str,
        state: State,
        outputs: &Map<String, Value>,
        error: Option<&str>,
    ) {
        let Some((index, subflow)) = subflow_run(self.ctx.flow, execution, task_run_id) else {
            return;
        };
        let run = &mut execution.task_runs[index];
        let ours = run.outputs.get(EXECUTION_ID).and_then(Value::as_str) == Some(child_id);
        if !ours || !subflow.wait || !state.is_terminal() {
            return;
        }
        run.outputs
            .insert(CHILD_STATE.into(), state.as_str().into());
        if !outputs.is_empty() {
            run.outputs
                .insert("outputs".into(), Value::Object(outputs.clone()));
        }
        if let Some(error) = error {
            let message = format!("subflow execution {child_id} ended {state}, but {error}");
            return self.fail(execution, index, message);
        }
        let ended = task_state(state, subflow.transmit_failed);
        if ended != State::Success {
            run.error = Some(format!("subflow execution {child_id} ended {state}"));
        }
        run.set_state(ended, self.ctx.now);
    }

    /// Kestra's kill cascade: every child whose end this execution has not seen is killed too,
    /// those of tasks that did not wait included.
    pub(super) fn kill_subflows(&mut self, execution: &Execution) {
        let flow = self.ctx.flow;
        for run in &execution.task_runs {
            let Some(child) = run.outputs.get(EXECUTION_ID).and_then(Value::as_str) else {
                continue;
            };
            let is_subflow = flow
                .find_task(&run.task_id)
                .is_some_and(|t| matches!(t.props, TaskProps::Subflow(_)));
            if is_subflow && !run.outputs.contains_key(CHILD_STATE) {
                self.actions.push(Action::Notify {
                    execution_id: child.to_owned(),
                    event: Event::Kill,
                });
            }
        }
    }

    /// A restart reaches a failed Subflow task run. With `restartBehavior: RETRY_FAILED`
    /// (Kestra's default) its child is restarted and the task run waits for its new end (a
    /// child that cannot be restarted answers with its end again); with `NEW_EXECUTION`, or
    /// when no child was created, a new child is started.
    pub(super) fn restart_subflow(
        &mut self,
        execution: &mut Execution,
        index: usize,
        subflow: &SubflowProps,
    ) {
        let now = self.ctx.now;
        let run = &mut execution.task_runs[index];
        run.error = None;
        let child = run
            .outputs
            .get(EXECUTION_ID)
            .and_then(Value::as_str)
            .map(str::to_owned);
        match child {
            Some(child)
                if subflow.restart_behavior != Some(SubflowRestartBehavior::NewExecution) =>
            {
                run.outputs.remove(CHILD_STATE);
                run.outputs.remove("outputs");
                run.set_state(State::Running, now);
                self.actions.push(Action::Notify {
                    execution_id: child,
                    event: Event::Restart,
                });
            }
            _ => {
                run.outputs.clear();
                run.set_state(State::Created, now);
            }
        }
    }

    /// What this execution's parent must hear now that it has ended; `None` without a parent
    /// or when the parent did not wait for it. The Subflow task's deprecated `outputs` are
    /// rendered here, in this execution's context, when the flow declares none of its own.
    pub(super) fn end_notice(&mut self, execution: &Execution) -> Option<Action> {
        let parent = execution.parent_execution.as_ref()?;
        if !parent.wait || !execution.state.is_terminal() {
            return None;
        }
        let flow = self.ctx.flow;
        let mut outputs = execution.outputs.clone();
        let mut error = None;
        if flow.outputs.is_empty() && !parent.outputs.is_empty() {
            let context = task_context(flow, execution, None, self.ctx.extras);
            for (name, value) in &parent.outputs {
                match self.render_output(value, &context) {
                    Ok(value) => {
                        outputs.insert(name.clone(), value);
                    }
                    Err(e) => {
                        error = Some(format!("its output '{name}' could not be rendered: {e}"));
                        break;
                    }
                }
            }
        }
        Some(Action::Notify {
            execution_id: parent.execution_id.clone(),
            event: Event::SubflowEnded {
                task_run_id: parent.task_run_id.clone(),
                execution_id: execution.id.clone(),
                state: execution.state,
                outputs,
                error,
            },
        })
    }
}

/// The task run of a Subflow task, if it has not ended, with the task's properties.
fn subflow_run<'f>(
    flow: &'f Flow,
    execution: &Execution,
    task_run_id: &str,
) -> Option<(usize, &'f SubflowProps)> {
    let index = execution
        .task_runs
        .iter()
        .position(|r| r.id == task_run_id && !r.state.is_terminal())?;
    match &flow.find_task(&execution.task_runs[index].task_id)?.props {
        TaskProps::Subflow(subflow) => Some((index, subflow)),
        _ => None,
    }
}

/// The Subflow task's state for its child's final state, as Kestra's
/// `ExecutableUtils.guessState` decides it: with `transmitFailed`, a FAILED, KILLED or WARNING
/// child passes its state on; any other end, and every end without it, is SUCCESS. The task's
/// `allowFailure` and `allowWarning` then apply as for any task.
pub(super) fn task_state(child: State, transmit_failed: bool) -> State {
    match child {
        State::Failed | State::Killed | State::Warning if transmit_failed => child,
        _ => State::Success,
    }
}
