//! Applying what happened (worker results, timers, kill, resume) to the execution document.

use super::advance::Engine;
use super::{Action, Event, retry};
use crate::execution::{Execution, State};
use crate::flow::TaskProps;

impl Engine<'_, '_> {
    pub(super) fn apply(&mut self, execution: &mut Execution, event: &Event) {
        let now = self.ctx.now;
        match event {
            Event::TaskStarted {
                task_run_id,
                attempt,
                worker_id,
                at,
                dispatched_at,
            } => {
                let Some(run) = current(execution, task_run_id, *attempt) else {
                    return;
                };
                if let Some(last) = run.attempts.last_mut() {
                    last.state = State::Running;
                    last.dispatched_at = *dispatched_at;
                    last.started_at = Some(*at);
                    last.worker_id = Some(worker_id.clone());
                }
                run.set_state(State::Running, *at);
            }
            Event::TaskFinished {
                task_run_id,
                attempt,
                state,
                outputs,
                error,
            } => {
                self.finish_attempt(
                    execution,
                    task_run_id,
                    *attempt,
                    *state,
                    outputs,
                    error.clone(),
                );
            }
            Event::LeaseExpired {
                task_run_id,
                attempt,
            }
            | Event::HandedBack {
                task_run_id,
                attempt,
            } => {
                let killing = execution.state == State::Killing;
                let Some(run) = current(execution, task_run_id, *attempt) else {
                    return;
                };
                if let Some(last) = run.attempts.last_mut() {
                    last.state = State::Killed;
                    last.ended_at = Some(now);
                }
                if killing {
                    run.set_state(State::Killed, now);
                } else {
                    // The worker is gone, not the task's fault: the same task run goes to
                    // another worker as a new attempt.
                    self.new_attempt(run);
                }
            }
            Event::Timer { task_run_id } => self.timer(execution, task_run_id),
            Event::Kill => {
                if !execution.state.is_terminal() {
                    execution.set_state(State::Killing, now);
                    for run in execution
                        .task_runs
                        .iter()
                        .filter(|r| !r.state.is_terminal())
                    {
                        if run.attempts.last().is_some_and(|a| !a.state.is_terminal())
                            && run.state != State::Retrying
                        {
                            self.actions.push(Action::Kill {
                                task_run_id: run.id.clone(),
                            });
                        }
                    }
                    self.kill_subflows(execution);
                }
            }
            Event::Restart => self.restart(execution),
            Event::Resume => {
                for run in execution
                    .task_runs
                    .iter_mut()
                    .filter(|r| r.state == State::Paused)
                {
                    run.set_state(State::Success, now);
                }
            }
            Event::SubflowStarted { task_run_id } => self.subflow_started(execution, task_run_id),
            Event::SubflowRefused { task_run_id, error } => {
                self.subflow_refused(execution, task_run_id, error)
            }
            Event::SubflowEnded {
                task_run_id,
                execution_id,
                state,
                outputs,
                error,
            } => self.subflow_ended(
                execution,
                task_run_id,
                execution_id,
                *state,
                outputs,
                error.as_deref(),
            ),
        }
    }

    fn finish_attempt(
        &mut self,
        execution: &mut Execution,
        task_run_id: &str,
        attempt: u32,
        state: State,
        outputs: &serde_json::Map<String, serde_json::Value>,
        error: Option<String>,
    ) {
        let now = self.ctx.now;
        let flow = self.ctx.flow;
        let killing = execution.state == State::Killing;
        let Some(run) = current(execution, task_run_id, attempt) else {
            return;
        };
        if let Some(last) = run.attempts.last_mut() {
            last.state = state;
            last.ended_at = Some(now);
        }
        run.outputs.extend(outputs.clone());
        run.error = error;
        let policy = flow
            .find_task(&run.task_id)
            .and_then(|t| t.common.retry.as_ref())
            .or(flow.retry.as_ref());
        if state == State::Failed
            && !killing
            && let Some(at) = policy.and_then(|p| retry::next_attempt_at(p, run, now))
        {
            run.set_state(State::Retrying, now);
            self.actions.push(Action::WakeAt {
                task_run_id: run.id.clone(),
                at,
            });
            return;
        }
        let warn_after_retries = state == State::Success
            && run.attempts.len() > 1
            && policy.is_some_and(|p| p.warning_on_retry);
        run.set_state(
            if warn_after_retries {
                State::Warning
            } else {
                state
            },
            now,
        );
    }

    fn timer(&mut self, execution: &mut Execution, task_run_id: &str) {
        let Some(index) = execution.task_runs.iter().position(|r| r.id == task_run_id) else {
            return;
        };
        match execution.task_runs[index].state {
            State::Retrying if execution.state != State::Killing => {
                let run = &mut execution.task_runs[index];
                self.new_attempt(run);
            }
            State::Paused => {
                let flow = self.ctx.flow;
                if let Some(task) = flow.find_task(&execution.task_runs[index].task_id)
                    && let TaskProps::Pause(pause) = &task.props
                {
                    self.pause_elapsed(execution, index, pause);
                }
            }
            _ => {}
        }
    }
}

/// The task run, if `attempt` is its current attempt and it has not ended: results for older
/// attempts (a worker that came back after its lease expired) are ignored.
fn current<'e>(
    execution: &'e mut Execution,
    task_run_id: &str,
    attempt: u32,
) -> Option<&'e mut crate::execution::TaskRun> {
    execution
        .task_runs
        .iter_mut()
        .find(|r| r.id == task_run_id)
        .filter(|r| r.attempt() == attempt && !r.state.is_terminal() && r.state != State::Retrying)
}
