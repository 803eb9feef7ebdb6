//! The engine step on small flows, driven the way the executor drives it.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use super::{Action, Event, StepContext, step};
use crate::execution::{ContextExtras, Execution, State};
use crate::flow::Flow;
use crate::parse::parse_flow;
use crate::template::{RenderLimits, TemplateEngine, TemplateHost};

pub(super) struct NoHost;

impl TemplateHost for NoHost {
    fn secret(&self, _: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
    fn kv(&self, _: &str, _: &str) -> Result<Option<Value>, String> {
        Ok(None)
    }
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("no file {path}"))
    }
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }
}

/// One execution of one flow, stepped by hand or by a scripted worker.
pub(super) struct Harness {
    pub flow: Flow,
    pub execution: Execution,
    pub templates: TemplateEngine,
    pub now: DateTime<Utc>,
    pub next_id: u32,
    /// Every action ever returned, in order.
    pub log: Vec<Action>,
}

impl Harness {
    pub fn new(yaml: &str) -> Self {
        let parsed = parse_flow(yaml);
        let flow = parsed
            .flow
            .unwrap_or_else(|| panic!("invalid test flow: {:?}", parsed.diagnostics));
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let execution = Execution::new("exec-1".into(), &flow.namespace, &flow.id, 1, now);
        Self {
            flow,
            execution,
            templates: TemplateEngine::new(RenderLimits::default()),
            now,
            next_id: 0,
            log: Vec::new(),
        }
    }

    pub fn with_inputs(mut self, inputs: Value) -> Self {
        if let Value::Object(map) = inputs {
            self.execution.inputs = map;
        }
        self
    }

    pub fn step(&mut self, events: &[Event]) -> Vec<Action> {
        let mut counter = self.next_id;
        let mut new_id = || {
            counter += 1;
            format!("tr{counter}")
        };
        let extras = ContextExtras::default();
        let mut ctx = StepContext {
            flow: &self.flow,
            now: self.now,
            templates: &self.templates,
            host: &NoHost,
            new_id: &mut new_id,
            extras: &extras,
        };
        let actions = step(&mut ctx, &mut self.execution, events);
        self.next_id = counter;
        self.log.extend(actions.iter().cloned());
        actions
    }

    pub fn run_id(&self, task_id: &str) -> String {
        self.execution
            .task_runs
            .iter()
            .find(|r| r.task_id == task_id)
            .unwrap_or_else(|| panic!("no run of {task_id}"))
            .id
            .clone()
    }

    pub fn task_of(&self, task_run_id: &str) -> String {
        self.execution
            .task_run(task_run_id)
            .map(|r| r.task_id.clone())
            .unwrap_or_default()
    }

    pub fn states(&self) -> Vec<(String, State)> {
        self.execution
            .task_runs
            .iter()
            .map(|r| {
                (
                    format!(
                        "{}{}",
                        r.task_id,
                        r.value
                            .as_ref()
                            .map(|v| format!("[{v}]"))
                            .unwrap_or_default()
                    ),
                    r.state,
                )
            })
            .collect()
    }

    /// Plays the worker: every dispatched attempt starts and ends as `outcome` says; timers fire
    /// when due. Returns the final state.
    pub fn run(&mut self, outcome: impl Fn(&str, u32) -> (State, Map<String, Value>)) -> State {
        let mut pending = self.step(&[]);
        // Attempts dispatched by earlier hand-made steps still need their worker.
        for run in &self.execution.task_runs {
            let waiting = run
                .attempts
                .last()
                .is_some_and(|a| a.state == State::Created);
            let dispatch = Action::Dispatch {
                task_run_id: run.id.clone(),
                attempt: run.attempt(),
            };
            if waiting && !pending.contains(&dispatch) {
                pending.push(dispatch);
            }
        }
        for _ in 0..1000 {
            let mut events = Vec::new();
            let mut wake = None;
            for action in pending.drain(..) {
                match action {
                    Action::Dispatch {
                        task_run_id,
                        attempt,
                    } => {
                        let (state, outputs) = outcome(&self.task_of(&task_run_id), attempt);
                        events.push(Event::TaskStarted {
                            task_run_id: task_run_id.clone(),
                            attempt,
                            worker_id: "w1".into(),
                            at: self.now,
                            dispatched_at: None,
                        });
                        events.push(Event::TaskFinished {
                            task_run_id,
                            attempt,
                            state,
                            outputs,
                            error: state.is_failure().then(|| "boom".into()),
                        });
                    }
                    Action::WakeAt { task_run_id, at } => wake = Some((task_run_id, at)),
                    Action::Ended { state } => return state,
                    Action::Kill { .. } | Action::StartSubflow(_) | Action::Notify { .. } => {}
                }
            }
            if events.is_empty() {
                let Some((task_run_id, at)) = wake else {
                    panic!("stuck: {:?}", self.states())
                };
                self.now = at;
                events.push(Event::Timer { task_run_id });
            }
            self.now += TimeDelta::milliseconds(10);
            pending = self.step(&events);
        }
        panic!("no end after 1000 steps: {:?}", self.states());
    }

    pub fn dispatched_tasks(&self) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::Dispatch { task_run_id, .. } => Some(self.task_of(task_run_id)),
                _ => None,
            })
            .collect()
    }
}

pub(super) fn ok(_: &str, _: u32) -> (State, Map<String, Value>) {
    (State::Success, Map::new())
}

pub(super) fn flow(tasks: &str) -> String {
    format!(
        "id: t\nnamespace: tests\ninputs:\n  - id: mode\n    type: STRING\n    defaults: fast\ntasks:\n{tasks}"
    )
}

#[test]
fn sequential_tasks_run_one_after_the_other() {
    let mut h = Harness::new(&flow(
        "  - {id: a, type: log, message: a}\n  - {id: b, type: return, format: b}\n  - {id: c, type: log, message: c}\n",
    ));
    let first = h.step(&[]);
    assert_eq!(
        first,
        [Action::Dispatch {
            task_run_id: "tr1".into(),
            attempt: 1
        }]
    );
    assert_eq!(h.execution.state, State::Running);
    assert_eq!(h.run(ok), State::Success);
    assert_eq!(h.dispatched_tasks(), ["a", "b", "c"]);
    assert!(h.execution.ended_at.is_some());
}

#[test]
fn a_failure_stops_the_list_then_errors_and_finally_run() {
    let yaml = flow(
        "  - {id: a, type: log, message: a}\n  - {id: b, type: log, message: b}\n  - {id: c, type: log, message: c}\nerrors:\n  - {id: e, type: log, message: e}\nfinally:\n  - {id: f, type: log, message: f}\n",
    );
    let mut h = Harness::new(&yaml);
    let end = h.run(|task, _| {
        if task == "b" {
            (State::Failed, Map::new())
        } else {
            ok(task, 1)
        }
    });
    assert_eq!(end, State::Failed);
    assert_eq!(h.dispatched_tasks(), ["a", "b", "e", "f"]);
}

#[test]
fn finally_failing_fails_a_successful_execution() {
    let mut h = Harness::new(&flow(
        "  - {id: a, type: log, message: a}\nfinally:\n  - {id: f, type: log, message: f}\n",
    ));
    assert_eq!(
        h.run(|task, _| if task == "f" {
            (State::Failed, Map::new())
        } else {
            ok(task, 1)
        }),
        State::Failed
    );
}

#[test]
fn if_runs_only_the_chosen_branch_and_keeps_its_decision() {
    let yaml = flow(
        "  - id: choose\n    type: if\n    condition: \"{{ inputs.mode == 'fast' }}\"\n    then:\n      - {id: yes, type: log, message: y}\n    else:\n      - {id: no, type: log, message: n}\n",
    );
    let mut h = Harness::new(&yaml).with_inputs(json!({"mode": "fast"}));
    assert_eq!(h.run(ok), State::Success);
    assert_eq!(h.dispatched_tasks(), ["yes"]);
    let choose = h.execution.task_run(&h.run_id("choose")).unwrap();
    assert_eq!(choose.outputs.get("evaluationResult"), Some(&json!(true)));
    assert_eq!(
        h.execution
            .task_run(&h.run_id("yes"))
            .unwrap()
            .branch
            .as_deref(),
        Some("then")
    );

    let mut h = Harness::new(&yaml).with_inputs(json!({"mode": "slow"}));
    assert_eq!(h.run(ok), State::Success);
    assert_eq!(h.dispatched_tasks(), ["no"]);
}

#[test]
fn switch_picks_the_case_or_the_defaults() {
    let yaml = flow(
        "  - id: sw\n    type: switch\n    value: \"{{ inputs.mode }}\"\n    cases:\n      fast:\n        - {id: f, type: log, message: f}\n      slow:\n        - {id: s, type: log, message: s}\n    defaults:\n      - {id: d, type: log, message: d}\n",
    );
    for (mode, expected) in [("fast", "f"), ("slow", "s"), ("other", "d")] {
        let mut h = Harness::new(&yaml).with_inputs(json!({"mode": mode}));
        assert_eq!(h.run(ok), State::Success);
        assert_eq!(h.dispatched_tasks(), [expected]);
    }
}

#[test]
fn parallel_starts_children_up_to_its_limit() {
    let children = "    tasks:\n      - {id: p1, type: log, message: a}\n      - {id: p2, type: log, message: b}\n      - {id: p3, type: log, message: c}\n";
    let mut h = Harness::new(&flow(&format!(
        "  - id: par\n    type: parallel\n{children}"
    )));
    assert_eq!(h.step(&[]).len(), 3, "no limit: all children at once");
    let mut h = Harness::new(&flow(&format!(
        "  - id: par\n    type: parallel\n    concurrent: 2\n{children}"
    )));
    assert_eq!(h.step(&[]).len(), 2);
    assert_eq!(h.run(ok), State::Success);
    assert_eq!(h.dispatched_tasks(), ["p1", "p2", "p3"]);
}

#[test]
fn for_each_runs_the_list_per_value_with_outputs_by_value() {
    let yaml = flow(
        "  - id: each\n    type: for_each\n    values: [\"a\", \"b\", \"c\"]\n    concurrencyLimit: 2\n    tasks:\n      - {id: item, type: return, format: \"{{ taskrun.value }}\"}\n      - {id: after, type: log, message: x}\n  - {id: last, type: log, message: \"{{ outputs.item['b'].value }}\"}\n",
    );
    let mut h = Harness::new(&yaml);
    let first = h.step(&[]);
    assert_eq!(first.len(), 2, "two values at a time: {first:?}");
    let end = h.run(|task, _| {
        let mut outputs = Map::new();
        if task == "item" {
            outputs.insert("value".into(), json!("v"));
        }
        (State::Success, outputs)
    });
    assert_eq!(end, State::Success);
    let items: Vec<_> = h
        .states()
        .into_iter()
        .filter(|(id, _)| id.starts_with("item"))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(items, ["item[a]", "item[b]", "item[c]"]);
    let context =
        crate::execution::task_context(&h.flow, &h.execution, None, &ContextExtras::default());
    assert_eq!(context.pointer("/outputs/item/b/value"), Some(&json!("v")));
}

#[test]
fn for_each_values_can_be_an_expression() {
    let yaml = flow(
        "  - id: each\n    type: for_each\n    values: \"{{ ['x', 'y'] }}\"\n    tasks:\n      - {id: item, type: log, message: \"{{ taskrun.value }}\"}\n",
    );
    let mut h = Harness::new(&yaml);
    assert_eq!(h.run(ok), State::Success);
    assert_eq!(h.dispatched_tasks(), ["item", "item"]);
}

#[test]
fn retries_wait_then_try_again_and_warn_when_asked() {
    let yaml = flow(
        "  - id: flaky\n    type: log\n    message: x\n    retry: {type: constant, interval: PT5S, maxAttempt: 3, warningOnRetry: true}\n",
    );
    let mut h = Harness::new(&yaml);
    let start = h.now;
    let end = h.run(|_, attempt| {
        if attempt < 3 {
            (State::Failed, Map::new())
        } else {
            ok("", attempt)
        }
    });
    assert_eq!(end, State::Warning);
    let run = h.execution.task_run(&h.run_id("flaky")).unwrap();
    assert_eq!(run.attempts.len(), 3);
    assert!(h.now >= start + TimeDelta::seconds(10), "two waits of 5 s");

    let mut h = Harness::new(&yaml);
    assert_eq!(
        h.run(|_, _| (State::Failed, Map::new())),
        State::Failed,
        "attempts exhausted"
    );
    assert_eq!(
        h.execution
            .task_run(&h.run_id("flaky"))
            .unwrap()
            .attempts
            .len(),
        3
    );
}

#[test]
fn exponential_retry_grows_and_caps_its_waits() {
    let yaml = flow(
        "  - id: flaky\n    type: log\n    message: x\n    retry: {type: exponential, interval: PT1S, maxInterval: PT3S, maxAttempt: 5}\n",
    );
    let mut h = Harness::new(&yaml);
    h.run(|_, _| (State::Failed, Map::new()));
    let waits: Vec<i64> = h
        .log
        .iter()
        .filter_map(|a| match a {
            Action::WakeAt { at, .. } => Some(*at),
            _ => None,
        })
        .collect::<Vec<_>>()
        .windows(1)
        .map(|w| w[0].timestamp())
        .collect();
    assert_eq!(waits.len(), 4);
    let deltas: Vec<i64> = waits.windows(2).map(|w| w[1] - w[0]).collect();
    // Each wait starts from the previous failure; 1 s, 2 s, 3 s (capped), 3 s.
    assert_eq!(deltas, [2, 3, 3]);
}

#[test]
fn allow_failure_and_run_if_and_disabled() {
    let yaml = flow(
        "  - {id: may_fail, type: log, message: x, allowFailure: true}\n  - {id: skipped, type: log, message: x, runIf: \"{{ inputs.mode == 'slow' }}\"}\n  - {id: off, type: log, message: x, disabled: true}\n  - {id: last, type: log, message: x}\n",
    );
    let mut h = Harness::new(&yaml).with_inputs(json!({"mode": "fast"}));
    let end = h.run(|task, _| {
        if task == "may_fail" {
            (State::Failed, Map::new())
        } else {
            ok(task, 1)
        }
    });
    assert_eq!(end, State::Warning);
    assert_eq!(h.dispatched_tasks(), ["may_fail", "last"]);
    assert!(h.states().contains(&("skipped".into(), State::Skipped)));
    assert!(!h.states().iter().any(|(id, _)| id == "off"));
}

#[test]
fn pause_waits_for_resume_or_its_duration() {
    let yaml = flow("  - {id: wait, type: pause}\n  - {id: after, type: log, message: x}\n");
    let mut h = Harness::new(&yaml);
    assert!(h.step(&[]).is_empty());
    assert_eq!(h.execution.state, State::Paused);
    let actions = h.step(&[Event::Resume]);
    assert_eq!(h.execution.state, State::Running);
    assert!(matches!(actions.as_slice(), [Action::Dispatch { .. }]));

    let mut h = Harness::new(&flow(
        "  - {id: wait, type: pause, pauseDuration: PT1M, behavior: FAIL}\n",
    ));
    let actions = h.step(&[]);
    let [Action::WakeAt { task_run_id, at }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert_eq!(*at, h.now + TimeDelta::minutes(1));
    let id = task_run_id.clone();
    assert_eq!(
        h.step(&[Event::Timer { task_run_id: id }]),
        [Action::Ended {
            state: State::Failed
        }]
    );
}

#[test]
fn kill_stops_running_attempts_and_ends_killed() {
    let yaml = flow(
        "  - id: par\n    type: parallel\n    concurrent: 1\n    tasks:\n      - {id: a, type: log, message: a}\n      - {id: b, type: log, message: b}\n",
    );
    let mut h = Harness::new(&yaml);
    h.step(&[]);
    let a = h.run_id("a");
    h.step(&[Event::TaskStarted {
        task_run_id: a.clone(),
        attempt: 1,
        worker_id: "w".into(),
        at: h.now,
        dispatched_at: None,
    }]);
    let actions = h.step(&[Event::Kill]);
    assert_eq!(
        actions,
        [Action::Kill {
            task_run_id: a.clone()
        }]
    );
    assert_eq!(h.execution.state, State::Killing);
    let actions = h.step(&[Event::TaskFinished {
        task_run_id: a,
        attempt: 1,
        state: State::Killed,
        outputs: Map::new(),
        error: None,
    }]);
    assert_eq!(
        actions,
        [Action::Ended {
            state: State::Killed
        }]
    );
    assert!(h.execution.task_runs.iter().all(|r| r.state.is_terminal()));
    assert!(
        !h.execution.task_runs.iter().any(|r| r.task_id == "b"),
        "b never started"
    );
}

#[test]
fn a_lost_worker_means_a_new_attempt_and_late_results_are_ignored() {
    let mut h = Harness::new(&flow("  - {id: a, type: log, message: a}\n"));
    h.step(&[]);
    let a = h.run_id("a");
    let actions = h.step(&[Event::LeaseExpired {
        task_run_id: a.clone(),
        attempt: 1,
    }]);
    assert_eq!(
        actions,
        [Action::Dispatch {
            task_run_id: a.clone(),
            attempt: 2
        }]
    );
    let late = Event::TaskFinished {
        task_run_id: a.clone(),
        attempt: 1,
        state: State::Failed,
        outputs: Map::new(),
        error: None,
    };
    assert!(h.step(&[late]).is_empty());
    assert_eq!(h.execution.state, State::Running);
    let done = Event::TaskFinished {
        task_run_id: a,
        attempt: 2,
        state: State::Success,
        outputs: Map::new(),
        error: None,
    };
    assert_eq!(
        h.step(&[done]),
        [Action::Ended {
            state: State::Success
        }]
    );
    // Nothing moves an ended execution any more.
    assert!(h.step(&[Event::Kill, Event::Resume]).is_empty());
    assert_eq!(h.execution.state, State::Success);
}

#[test]
fn labels_task_sets_execution_labels_in_the_executor() {
    let mut h = Harness::new(&flow(
        "  - id: set\n    type: labels\n    labels:\n      mode: \"{{ inputs.mode }}\"\n      n: 3\n",
    ));
    h.execution.inputs.insert("mode".into(), json!("fast"));
    assert_eq!(
        h.step(&[]),
        [Action::Ended {
            state: State::Success
        }]
    );
    assert_eq!(
        h.execution.labels.get("mode").map(String::as_str),
        Some("fast")
    );
    assert_eq!(h.execution.labels.get("n").map(String::as_str), Some("3"));
}

#[test]
fn flowable_errors_handle_their_own_children() {
    let yaml = flow(
        "  - id: seq\n    type: sequential\n    tasks:\n      - {id: inner, type: log, message: x}\n    errors:\n      - {id: handler, type: log, message: h}\n  - {id: next, type: log, message: n}\n",
    );
    let mut h = Harness::new(&yaml);
    let end = h.run(|task, _| {
        if task == "inner" {
            (State::Failed, Map::new())
        } else {
            ok(task, 1)
        }
    });
    assert_eq!(end, State::Failed);
    assert_eq!(h.dispatched_tasks(), ["inner", "handler"]);
}

#[test]
fn restart_reruns_what_failed_and_keeps_what_succeeded() {
    let yaml = flow(
        "  - {id: a, type: log, message: a}\n  - id: seq\n    type: sequential\n    tasks:\n      - {id: b, type: log, message: b}\n  - {id: c, type: log, message: c}\nerrors:\n  - {id: e, type: log, message: e}\n",
    );
    let mut h = Harness::new(&yaml);
    assert_eq!(
        h.run(|task, _| if task == "b" {
            (State::Failed, Map::new())
        } else {
            ok(task, 1)
        }),
        State::Failed
    );
    assert_eq!(h.dispatched_tasks(), ["a", "b", "e"]);
    h.log.clear();
    let actions = h.step(&[Event::Restart]);
    let b = h.run_id("b");
    assert_eq!(
        actions,
        [Action::Dispatch {
            task_run_id: b.clone(),
            attempt: 2
        }]
    );
    assert_eq!(h.execution.state, State::Running);
    assert!(h.execution.ended_at.is_none());
    assert!(
        !h.execution.task_runs.iter().any(|r| r.task_id == "e"),
        "the errors handler is dropped"
    );
    assert_eq!(h.run(ok), State::Success);
    assert_eq!(h.dispatched_tasks(), ["b", "c"], "a is not run again");
    // A successful execution cannot be restarted.
    assert!(h.step(&[Event::Restart]).is_empty());
}

#[test]
fn replay_starts_a_new_execution_from_a_chosen_task_run() {
    let yaml = flow(
        "  - {id: a, type: return, format: a}\n  - id: seq\n    type: sequential\n    tasks:\n      - {id: b, type: log, message: b}\n      - {id: c, type: log, message: c}\n  - {id: d, type: log, message: d}\n",
    );
    let mut h = Harness::new(&yaml);
    assert_eq!(h.run(ok), State::Success);
    let c = h.run_id("c");
    let replayed = super::replay(&h.flow, &h.execution, &c, "exec-2".into(), h.now).expect("c ran");
    assert_eq!(replayed.original_id.as_deref(), Some("exec-1"));
    let kept: Vec<(&str, State)> = replayed
        .task_runs
        .iter()
        .map(|r| (r.task_id.as_str(), r.state))
        .collect();
    assert_eq!(
        kept,
        [
            ("a", State::Success),
            ("seq", State::Running),
            ("b", State::Success)
        ]
    );
    let mut replay = Harness::new(&yaml);
    replay.execution = replayed;
    replay.next_id = 100; // fresh ids must not collide with the kept runs
    assert_eq!(replay.run(ok), State::Success);
    assert_eq!(replay.dispatched_tasks(), ["c", "d"]);
    assert!(super::replay(&h.flow, &h.execution, "nope", "x".into(), h.now).is_none());
}

#[test]
fn flow_outputs_are_rendered_when_the_execution_ends() {
    let yaml = flow(
        "  - {id: a, type: return, format: x}\noutputs:\n  - id: answer\n    type: STRING\n    value: \"{{ outputs.a.value }}!\"\n  - id: typed\n    type: JSON\n    value: \"{{ [1, 2] }}\"\n",
    );
    let mut h = Harness::new(&yaml);
    let end = h.run(|_, _| {
        let mut outputs = Map::new();
        outputs.insert("value".into(), json!("v"));
        (State::Success, outputs)
    });
    assert_eq!(end, State::Success);
    assert_eq!(h.execution.outputs.get("answer"), Some(&json!("v!")));
    assert_eq!(h.execution.outputs.get("typed"), Some(&json!([1, 2])));

    let broken = flow(
        "  - {id: a, type: log, message: x}\noutputs:\n  - id: answer\n    type: STRING\n    value: \"{{ outputs.missing.value }}\"\n",
    );
    let mut h = Harness::new(&broken);
    assert_eq!(h.run(ok), State::Failed);
    let error = h.execution.error.clone().unwrap_or_default();
    assert!(
        error.contains("output 'answer'") && error.contains("outputs.missing"),
        "{error}"
    );
}
