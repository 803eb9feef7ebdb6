//! Walking the flow's task lists and moving each task run forward.

use serde_json::Value;

use super::{Action, StepContext};
use crate::execution::{Attempt, Execution, State, TaskRun, task_context};
use crate::flow::task::Branch;
use crate::flow::{Property, Task, TaskProps};

pub(super) struct Engine<'c, 'a> {
    pub ctx: &'c mut StepContext<'a>,
    pub actions: Vec<Action>,
}

/// Where a list of tasks runs: under which flowable task run, in which branch, for which
/// ForEach value.
#[derive(Clone, Debug)]
pub(super) struct Scope {
    pub parent: Option<String>,
    pub branch: Option<String>,
    pub value: Option<String>,
    pub iteration: Option<u32>,
}

impl Scope {
    const TOP: Scope = Scope {
        parent: None,
        branch: None,
        value: None,
        iteration: None,
    };

    fn under(parent: &TaskRun, branch: &str) -> Scope {
        Scope {
            parent: Some(parent.id.clone()),
            branch: Some(branch.to_owned()),
            value: parent.value.clone(),
            iteration: parent.iteration,
        }
    }
}

/// Where a list stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ListState {
    Running,
    /// Every task ran (or one failed and stopped the list); the list's overall state.
    Done(State),
}

impl Engine<'_, '_> {
    pub fn advance_execution(&mut self, execution: &mut Execution) {
        let flow = self.ctx.flow;
        if execution.state == State::Killing {
            self.advance_kill(execution);
            return;
        }
        let Some(outcome) = self.run_with_handlers(
            execution,
            &flow.tasks,
            &flow.errors,
            &flow.finally,
            &Scope::TOP,
        ) else {
            self.sync_pause(execution);
            return;
        };
        let outcome = self.render_flow_outputs(execution, outcome);
        execution.set_state(outcome, self.ctx.now);
        self.actions.push(Action::Ended { state: outcome });
    }

    /// The flow's `outputs`, rendered once its tasks are done. A successful execution whose
    /// outputs cannot be rendered fails, naming the output (Kestra does the same); a failed one
    /// keeps what it could render.
    fn render_flow_outputs(&mut self, execution: &mut Execution, outcome: State) -> State {
        let flow = self.ctx.flow;
        if flow.outputs.is_empty() {
            return outcome;
        }
        let context = task_context(flow, execution, None, self.ctx.extras);
        let mut problems = Vec::new();
        for output in &flow.outputs {
            match self.render_output(&output.value, &context) {
                Ok(value) => {
                    execution.outputs.insert(output.id.clone(), value);
                }
                Err(error) => problems.push(format!("output '{}': {error}", output.id)),
            }
        }
        if problems.is_empty() || outcome.is_failure() {
            return outcome;
        }
        execution.error = Some(problems.join("; "));
        State::Failed
    }

    /// One output value: a string that is one expression keeps its type.
    pub(super) fn render_output(
        &self,
        value: &Value,
        context: &Value,
    ) -> Result<Value, crate::template::TemplateError> {
        match value {
            Value::String(text) => self
                .ctx
                .templates
                .render_typed(text, context, self.ctx.host),
            other => self
                .ctx
                .templates
                .render_value(other, context, self.ctx.host),
        }
    }

    /// Runs `tasks`, then `errors` if they failed, then `finally`; `None` while anything runs.
    fn run_with_handlers(
        &mut self,
        execution: &mut Execution,
        tasks: &[Task],
        errors: &[Task],
        finally: &[Task],
        scope: &Scope,
    ) -> Option<State> {
        let main = match self.advance_list(execution, tasks, scope, "tasks") {
            ListState::Running => return None,
            ListState::Done(state) => state,
        };
        if main.is_failure() && !errors.is_empty() {
            let errors_scope = Scope {
                branch: Some("errors".into()),
                ..scope.clone()
            };
            if self.advance_list(execution, errors, &errors_scope, "errors") == ListState::Running {
                return None;
            }
        }
        let mut outcome = main;
        if !finally.is_empty() {
            let finally_scope = Scope {
                branch: Some("finally".into()),
                ..scope.clone()
            };
            match self.advance_list(execution, finally, &finally_scope, "finally") {
                ListState::Running => return None,
                ListState::Done(state) => outcome = worst(outcome, state),
            }
        }
        Some(outcome)
    }

    /// Sequential semantics: each task starts when the one before it has ended well.
    pub(super) fn advance_list(
        &mut self,
        execution: &mut Execution,
        tasks: &[Task],
        scope: &Scope,
        default_branch: &str,
    ) -> ListState {
        let mut overall = State::Success;
        for task in tasks.iter().filter(|t| !t.common.disabled) {
            let state = match find_run(execution, task, scope) {
                Some(index) => self.advance_task(execution, task, index),
                None => {
                    let index = self.create_run(execution, task, scope, default_branch);
                    self.advance_task(execution, task, index)
                }
            };
            if !state.is_terminal() {
                return ListState::Running;
            }
            let effective = effective_state(task, state);
            if effective.is_failure() {
                return ListState::Done(effective);
            }
            overall = worst(overall, effective);
        }
        ListState::Done(overall)
    }

    fn create_run(
        &mut self,
        execution: &mut Execution,
        task: &Task,
        scope: &Scope,
        default_branch: &str,
    ) -> usize {
        let now = self.ctx.now;
        let branch = scope
            .branch
            .clone()
            .or_else(|| (scope.parent.is_some()).then(|| default_branch.to_owned()));
        execution.task_runs.push(TaskRun {
            id: (self.ctx.new_id)(),
            task_id: task.id.clone(),
            parent_id: scope.parent.clone(),
            branch,
            value: scope.value.clone(),
            iteration: scope.iteration,
            state: State::Created,
            history: vec![crate::execution::StateChange {
                state: State::Created,
                at: now,
            }],
            attempts: Vec::new(),
            outputs: serde_json::Map::new(),
            error: None,
        });
        let index = execution.task_runs.len() - 1;
        if let Some(condition) = &task.common.run_if {
            match self.render_typed(execution, index, condition) {
                Ok(value) if !truthy(&value) => {
                    execution.task_runs[index].set_state(State::Skipped, now)
                }
                Ok(_) => {}
                Err(message) => self.fail(execution, index, format!("runIf: {message}")),
            }
        }
        index
    }

    /// Moves one task run forward; returns its state afterwards.
    fn advance_task(&mut self, execution: &mut Execution, task: &Task, index: usize) -> State {
        let state = execution.task_runs[index].state;
        if state.is_terminal() || state == State::Paused || state == State::Retrying {
            return state;
        }
        match &task.props {
            TaskProps::If {
                condition,
                then,
                else_,
            } => {
                let chosen = self.evaluate_once(
                    execution,
                    index,
                    "evaluationResult",
                    |engine, execution| {
                        engine
                            .render_typed(execution, index, condition)
                            .map(|v| Value::Bool(truthy(&v)))
                    },
                );
                let Some(chosen) = chosen else {
                    return execution.task_runs[index].state;
                };
                let (list, branch) = if chosen == Value::Bool(true) {
                    (then, Branch::Then)
                } else {
                    (else_, Branch::Else)
                };
                self.advance_children(execution, task, index, list, &branch.to_string())
            }
            TaskProps::Switch {
                value,
                cases,
                defaults,
            } => {
                let chosen = self.evaluate_once(execution, index, "value", |engine, execution| {
                    engine
                        .render_text(execution, index, value)
                        .map(Value::String)
                });
                let Some(Value::String(chosen)) = chosen else {
                    return execution.task_runs[index].state;
                };
                let (list, branch) = match cases.get(&chosen) {
                    Some(list) => (list, Branch::Case(&chosen).to_string()),
                    None => (defaults, Branch::Defaults.to_string()),
                };
                self.advance_children(execution, task, index, list, &branch)
            }
            TaskProps::Sequential { tasks } | TaskProps::WorkingDirectory { tasks, .. } => {
                self.advance_children(execution, task, index, tasks, "tasks")
            }
            TaskProps::Parallel { concurrent, tasks } => {
                let limit = self.limit(execution, index, concurrent);
                self.advance_parallel(execution, task, index, tasks, limit)
            }
            TaskProps::ForEach {
                values,
                concurrency_limit,
                tasks,
            } => {
                let limit = self.limit(execution, index, concurrency_limit);
                self.advance_for_each(execution, task, index, values, tasks, limit)
            }
            TaskProps::Pause(pause) => {
                self.start_pause(execution, index, pause);
                execution.task_runs[index].state
            }
            TaskProps::Labels(labels) => {
                self.apply_labels(execution, index, &labels.labels);
                execution.task_runs[index].state
            }
            TaskProps::Subflow(subflow) => {
                self.start_subflow(execution, index, subflow);
                execution.task_runs[index].state
            }
            _ => {
                self.dispatch_if_new(execution, index);
                execution.task_runs[index].state
            }
        }
    }

    /// First dispatch of a runnable task run.
    fn dispatch_if_new(&mut self, execution: &mut Execution, index: usize) {
        let run = &mut execution.task_runs[index];
        if run.attempts.is_empty() {
            self.new_attempt(run);
        }
    }

    pub(super) fn new_attempt(&mut self, run: &mut TaskRun) {
        run.attempts.push(Attempt {
            state: State::Created,
            created_at: self.ctx.now,
            dispatched_at: None,
            started_at: None,
            ended_at: None,
            worker_id: None,
        });
        run.set_state(State::Created, self.ctx.now);
        self.actions.push(Action::Dispatch {
            task_run_id: run.id.clone(),
            attempt: run.attempt(),
        });
    }

    /// Children of a flowable run as one list, with the flowable's own errors and finally.
    fn advance_children(
        &mut self,
        execution: &mut Execution,
        task: &Task,
        index: usize,
        list: &[Task],
        branch: &str,
    ) -> State {
        self.mark_running(execution, index);
        let scope = Scope::under(&execution.task_runs[index], branch);
        let handler_scope = Scope::under(&execution.task_runs[index], "errors");
        let main = self.advance_list(execution, list, &scope, branch);
        self.finish_flowable(execution, task, index, main, &handler_scope)
    }

    /// Given the children's state, runs the flowable's errors and finally and settles its state.
    pub(super) fn finish_flowable(
        &mut self,
        execution: &mut Execution,
        task: &Task,
        index: usize,
        main: ListState,
        scope: &Scope,
    ) -> State {
        let ListState::Done(mut outcome) = main else {
            return execution.task_runs[index].state;
        };
        if outcome.is_failure() && !task.errors.is_empty() {
            let errors_scope = Scope {
                branch: Some("errors".into()),
                ..scope.clone()
            };
            if self.advance_list(execution, &task.errors, &errors_scope, "errors")
                == ListState::Running
            {
                return execution.task_runs[index].state;
            }
        }
        if !task.finally.is_empty() {
            let finally_scope = Scope {
                branch: Some("finally".into()),
                ..scope.clone()
            };
            match self.advance_list(execution, &task.finally, &finally_scope, "finally") {
                ListState::Running => return execution.task_runs[index].state,
                ListState::Done(state) => outcome = worst(outcome, state),
            }
        }
        execution.task_runs[index].set_state(outcome, self.ctx.now);
        outcome
    }

    fn advance_parallel(
        &mut self,
        execution: &mut Execution,
        task: &Task,
        index: usize,
        tasks: &[Task],
        limit: usize,
    ) -> State {
        self.mark_running(execution, index);
        let scope = Scope::under(&execution.task_runs[index], "tasks");
        let mut overall = State::Success;
        let mut running = 0;
        let mut all_done = true;
        for child in tasks.iter().filter(|t| !t.common.disabled) {
            let child_index = match find_run(execution, child, &scope) {
                Some(i) => i,
                None if limit == 0 || running < limit => {
                    self.create_run(execution, child, &scope, "tasks")
                }
                None => {
                    all_done = false;
                    continue;
                }
            };
            let state = self.advance_task(execution, child, child_index);
            if state.is_terminal() {
                overall = worst(overall, effective_state(child, state));
            } else {
                running += 1;
                all_done = false;
            }
        }
        let main = if all_done {
            ListState::Done(overall)
        } else {
            ListState::Running
        };
        let handler_scope = Scope::under(&execution.task_runs[index], "errors");
        self.finish_flowable(execution, task, index, main, &handler_scope)
    }

    pub(super) fn mark_running(&mut self, execution: &mut Execution, index: usize) {
        if execution.task_runs[index].state == State::Created {
            execution.task_runs[index].set_state(State::Running, self.ctx.now);
        }
    }

    /// A flowable's decision (If condition, Switch value) is rendered once and kept in its
    /// outputs, so later steps follow the same branch even if the context changed.
    fn evaluate_once(
        &mut self,
        execution: &mut Execution,
        index: usize,
        key: &str,
        evaluate: impl FnOnce(&mut Self, &Execution) -> Result<Value, String>,
    ) -> Option<Value> {
        if let Some(value) = execution.task_runs[index].outputs.get(key) {
            return Some(value.clone());
        }
        match evaluate(self, execution) {
            Ok(value) => {
                execution.task_runs[index]
                    .outputs
                    .insert(key.to_owned(), value.clone());
                Some(value)
            }
            Err(message) => {
                self.fail(execution, index, message);
                None
            }
        }
    }

    fn limit(&mut self, execution: &mut Execution, index: usize, limit: &Property<u32>) -> usize {
        match limit {
            Property::Value(n) => *n as usize,
            Property::Expression(text) => match self.render_typed(execution, index, text) {
                Ok(value) => value
                    .as_u64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    .unwrap_or(1) as usize,
                Err(_) => 1,
            },
        }
    }

    pub(super) fn fail(&mut self, execution: &mut Execution, index: usize, message: String) {
        let run = &mut execution.task_runs[index];
        run.error = Some(message);
        run.set_state(State::Failed, self.ctx.now);
    }

    /// The template context of one task run, for the expressions the executor renders.
    fn context_of(&self, execution: &Execution, index: usize) -> Value {
        task_context(
            self.ctx.flow,
            execution,
            Some(&execution.task_runs[index]),
            self.ctx.extras,
        )
    }

    pub(super) fn render_typed(
        &mut self,
        execution: &Execution,
        index: usize,
        text: &str,
    ) -> Result<Value, String> {
        let context = self.context_of(execution, index);
        self.ctx
            .templates
            .render_typed(text, &context, self.ctx.host)
            .map_err(|e| e.to_string())
    }

    pub(super) fn render_text(
        &mut self,
        execution: &Execution,
        index: usize,
        text: &str,
    ) -> Result<String, String> {
        let context = self.context_of(execution, index);
        self.ctx
            .templates
            .render(text, &context, self.ctx.host)
            .map_err(|e| e.to_string())
    }

    pub(super) fn render_value(
        &mut self,
        execution: &Execution,
        index: usize,
        value: &Value,
    ) -> Result<Value, String> {
        let context = self.context_of(execution, index);
        self.ctx
            .templates
            .render_value(value, &context, self.ctx.host)
            .map_err(|e| e.to_string())
    }
}

/// The task run of `task` in `scope`, if it was created.
pub(super) fn find_run(execution: &Execution, task: &Task, scope: &Scope) -> Option<usize> {
    execution.task_runs.iter().position(|r| {
        r.task_id == task.id
            && r.parent_id == scope.parent
            && r.value == scope.value
            && r.branch_matches(scope)
    })
}

impl TaskRun {
    /// Handlers (`errors`, `finally`) and main children of one parent are told apart by branch.
    fn branch_matches(&self, scope: &Scope) -> bool {
        match (&scope.branch, &self.branch) {
            (Some(wanted), Some(have)) => wanted == have,
            (None, _) => true,
            (Some(_), None) => false,
        }
    }
}

/// How a finished task counts for its list: `allowFailure` turns failure into a warning,
/// `allowWarning` turns a warning into success.
pub(super) fn effective_state(task: &Task, state: State) -> State {
    match state {
        State::Failed if task.common.allow_failure => State::Warning,
        State::Warning if task.common.allow_warning => State::Success,
        other => other,
    }
}

/// The worse of two terminal states, for a list's overall outcome.
pub(super) fn worst(a: State, b: State) -> State {
    fn rank(s: State) -> u8 {
        match s {
            State::Success | State::Skipped => 0,
            State::Warning => 1,
            State::Cancelled => 2,
            State::Failed => 3,
            State::Killed => 4,
            _ => 0,
        }
    }
    if rank(b) > rank(a) { b } else { a }
}

/// Pebble truthiness for conditions: false, 0, "", "false", null and empty collections are false.
pub(super) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => {
            let t = s.trim();
            !(t.is_empty() || t.eq_ignore_ascii_case("false") || t == "0")
        }
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}
