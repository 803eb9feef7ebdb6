//! The executor-side task kinds that need more than a list walk: ForEach, Pause, Labels, and
//! the kill sequence. Subflow has its own module.

use serde_json::Value;

use super::Action;
use super::advance::{Engine, ListState, Scope, find_run, worst};
use crate::execution::{Execution, State};
use crate::flow::Task;
use crate::flow::props::{PauseBehavior, PauseProps};

impl Engine<'_, '_> {
    /// ForEach: each value runs the task list once, `limit` values at a time (0 = all at once).
    pub(super) fn advance_for_each(
        &mut self,
        execution: &mut Execution,
        task: &Task,
        index: usize,
        values: &Value,
        tasks: &[Task],
        limit: usize,
    ) -> State {
        let values = match execution.task_runs[index].outputs.get("values") {
            Some(Value::Array(values)) => values.clone(),
            _ => match self.resolve_values(execution, index, values) {
                Ok(values) => {
                    execution.task_runs[index]
                        .outputs
                        .insert("values".into(), Value::Array(values.clone()));
                    values
                }
                Err(message) => {
                    self.fail(execution, index, format!("values: {message}"));
                    return State::Failed;
                }
            },
        };
        self.mark_running(execution, index);
        let parent_id = execution.task_runs[index].id.clone();
        let first = tasks.iter().find(|t| !t.common.disabled);
        let mut overall = State::Success;
        let mut active = 0;
        let mut all_done = true;
        for (i, value) in values.iter().enumerate() {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let scope = Scope {
                parent: Some(parent_id.clone()),
                branch: Some("tasks".into()),
                value: Some(value),
                iteration: Some(i as u32),
            };
            let started = first.is_some_and(|t| find_run(execution, t, &scope).is_some());
            if !started && limit != 0 && active >= limit {
                all_done = false;
                continue;
            }
            match self.advance_list(execution, tasks, &scope, "tasks") {
                ListState::Running => {
                    active += 1;
                    all_done = false;
                }
                ListState::Done(state) => overall = worst(overall, state),
            }
        }
        let main = if all_done {
            ListState::Done(overall)
        } else {
            ListState::Running
        };
        let handler_scope = Scope {
            parent: Some(parent_id),
            branch: Some("errors".into()),
            value: None,
            iteration: None,
        };
        self.finish_flowable(execution, task, index, main, &handler_scope)
    }

    /// `values` may be a list, a JSON array in a string, or an expression rendering to either.
    fn resolve_values(
        &mut self,
        execution: &Execution,
        index: usize,
        values: &Value,
    ) -> Result<Vec<Value>, String> {
        let rendered = match values {
            Value::String(text) => {
                let value = self.render_typed(execution, index, text)?;
                match value {
                    Value::String(s) => {
                        serde_json::from_str(&s).map_err(|_| format!("'{s}' is not a JSON list"))?
                    }
                    other => other,
                }
            }
            other => self.render_value(execution, index, other)?,
        };
        match rendered {
            Value::Array(items) => Ok(items),
            other => Err(format!("expected a list, found {other}")),
        }
    }

    pub(super) fn start_pause(
        &mut self,
        execution: &mut Execution,
        index: usize,
        pause: &PauseProps,
    ) {
        let now = self.ctx.now;
        if execution.task_runs[index].state != State::Created {
            return;
        }
        execution.task_runs[index].set_state(State::Paused, now);
        let duration = pause.pause_duration.as_ref().or(pause.timeout.as_ref());
        let duration = match duration {
            None => return,
            Some(crate::flow::Property::Value(d)) => Some(*d),
            Some(crate::flow::Property::Expression(text)) => self
                .render_text(execution, index, text)
                .ok()
                .and_then(|t| t.parse::<crate::duration::IsoDuration>().ok()),
        };
        if let Some(at) = duration
            .and_then(|d| d.to_chrono())
            .and_then(|d| now.checked_add_signed(d))
        {
            self.actions.push(Action::WakeAt {
                task_run_id: execution.task_runs[index].id.clone(),
                at,
            });
        }
    }

    /// A paused task run whose duration elapsed ends as its `behavior` says (RESUME by default).
    pub(super) fn pause_elapsed(
        &mut self,
        execution: &mut Execution,
        index: usize,
        pause: &PauseProps,
    ) {
        let now = self.ctx.now;
        let run = &mut execution.task_runs[index];
        if run.state != State::Paused {
            return;
        }
        match pause.behavior.unwrap_or(PauseBehavior::Resume) {
            PauseBehavior::Resume => run.set_state(State::Success, now),
            PauseBehavior::Warn => run.set_state(State::Warning, now),
            PauseBehavior::Fail => {
                run.error = Some("the pause duration elapsed".into());
                run.set_state(State::Failed, now);
            }
            // A cancelled task run fails its list, so the execution ends CANCELLED.
            PauseBehavior::Cancel => run.set_state(State::Cancelled, now),
        }
    }

    /// The execution is PAUSED while any task run is, RUNNING otherwise.
    pub(super) fn sync_pause(&mut self, execution: &mut Execution) {
        let paused = execution.task_runs.iter().any(|r| r.state == State::Paused);
        match (execution.state, paused) {
            (State::Running, true) => execution.set_state(State::Paused, self.ctx.now),
            (State::Paused, false) => execution.set_state(State::Running, self.ctx.now),
            _ => {}
        }
    }

    pub(super) fn apply_labels(&mut self, execution: &mut Execution, index: usize, labels: &Value) {
        let rendered = match self.render_value(execution, index, labels) {
            Ok(value) => value,
            Err(message) => return self.fail(execution, index, format!("labels: {message}")),
        };
        let pairs = match label_pairs(rendered) {
            Ok(pairs) => pairs,
            Err(message) => return self.fail(execution, index, format!("labels: {message}")),
        };
        for (key, value) in pairs {
            execution.labels.insert(key, value);
        }
        execution.task_runs[index].set_state(State::Success, self.ctx.now);
    }

    /// KILLING: running attempts are asked to stop; everything else not yet ended is KILLED.
    /// The execution is KILLED once no attempt is left running on a worker.
    pub(super) fn advance_kill(&mut self, execution: &mut Execution) {
        let now = self.ctx.now;
        let mut waiting = false;
        for run in execution
            .task_runs
            .iter_mut()
            .filter(|r| !r.state.is_terminal())
        {
            let on_worker = run.attempts.last().is_some_and(|a| !a.state.is_terminal())
                && run.state != State::Retrying;
            if on_worker {
                waiting = true;
            } else {
                run.set_state(State::Killed, now);
            }
        }
        if !waiting {
            execution.set_state(State::Killed, now);
            self.actions.push(Action::Ended {
                state: State::Killed,
            });
        }
    }
}

/// Labels as Kestra writes them: a map, or a list of `{key, value}`; values become text.
pub(super) fn label_pairs(labels: Value) -> Result<Vec<(String, String)>, String> {
    match labels {
        Value::Object(map) => Ok(map.into_iter().map(|(k, v)| (k, plain_text(&v))).collect()),
        Value::Array(items) => Ok(items
            .iter()
            .filter_map(|item| {
                Some((
                    item.get("key")?.as_str()?.to_owned(),
                    plain_text(item.get("value")?),
                ))
            })
            .collect()),
        other => Err(format!(
            "expected a map or a list of {{key, value}}, found {other}"
        )),
    }
}

fn plain_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
