//! The engine's side of Subflow: a parent stepped by hand, with the events the executor and
//! the child's own steps would send.

use serde_json::{Map, Value, json};

use super::tests::{Harness, flow};
use super::{Action, Event, MAX_SUBFLOW_DEPTH, SubflowStart};
use crate::execution::{ParentExecution, State};

const CALL: &str = "  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: tests.children\n    flowId: \"{{ inputs.mode }}_child\"\n";

/// The one StartSubflow among `actions`.
#[track_caller]
fn started(actions: &[Action]) -> SubflowStart {
    let starts: Vec<&SubflowStart> = actions
        .iter()
        .filter_map(|a| match a {
            Action::StartSubflow(start) => Some(start.as_ref()),
            _ => None,
        })
        .collect();
    match starts.as_slice() {
        [start] => (*start).clone(),
        _ => panic!("expected one StartSubflow: {actions:?}"),
    }
}

fn ended(start: &SubflowStart, state: State, outputs: Value) -> Event {
    Event::SubflowEnded {
        task_run_id: start.task_run_id.clone(),
        execution_id: start.execution_id.clone(),
        state,
        outputs: outputs.as_object().cloned().unwrap_or_default(),
        error: None,
    }
}

fn begun(start: &SubflowStart) -> Event {
    Event::SubflowStarted {
        task_run_id: start.task_run_id.clone(),
    }
}

fn output<'h>(h: &'h Harness, task_id: &str, key: &str) -> Option<&'h Value> {
    h.execution.task_run(&h.run_id(task_id))?.outputs.get(key)
}

#[test]
fn a_waiting_subflow_takes_its_childs_outputs_for_the_next_task() {
    let yaml = flow(&format!(
        "{CALL}    inputs:\n      who: \"{{{{ inputs.mode }}}}\"\n      n: 3\n    labels:\n      team: \"{{{{ inputs.mode }}}}\"\n  - {{id: after, type: log, message: \"{{{{ outputs.call.outputs.answer }}}}\"}}\n"
    ));
    let mut h = Harness::new(&yaml).with_inputs(json!({"mode": "fast"}));
    h.execution.labels.insert("from".into(), "parent".into());
    let start = started(&h.step(&[]));
    assert_eq!(
        (start.namespace.as_str(), start.flow_id.as_str()),
        ("tests.children", "fast_child")
    );
    assert_eq!(
        Value::Object(start.inputs.clone()),
        json!({"who": "fast", "n": 3})
    );
    assert_eq!(start.labels, [("team".to_owned(), "fast".to_owned())]);
    assert!(start.inherited_labels.is_empty(), "inheritLabels is off");
    assert_eq!(start.parent.execution_id, "exec-1");
    assert_eq!(start.parent.task_id, "call");
    assert_eq!(start.parent.call_chain, ["tests.t"]);
    assert!(start.parent.wait);
    assert_eq!(
        output(&h, "call", "executionId"),
        Some(&json!(start.execution_id)),
        "the child's id shows before it ends"
    );
    assert_eq!(h.execution.task_runs[0].state, State::Running);

    assert!(h.step(&[begun(&start)]).is_empty(), "a waiting task waits");
    let actions = h.step(&[ended(&start, State::Success, json!({"answer": 42}))]);
    let [Action::Dispatch { task_run_id, .. }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert_eq!(h.task_of(task_run_id), "after");
    assert_eq!(output(&h, "call", "state"), Some(&json!("SUCCESS")));
    assert_eq!(output(&h, "call", "outputs"), Some(&json!({"answer": 42})));
    let context = crate::execution::task_context(
        &h.flow,
        &h.execution,
        None,
        &crate::execution::ContextExtras::default(),
    );
    assert_eq!(
        context.pointer("/outputs/call/outputs/answer"),
        Some(&json!(42))
    );
}

#[test]
fn the_task_state_follows_the_child_as_transmit_failed_says() {
    use State::{Cancelled, Failed, Killed, Success, Warning};
    // (child state, transmitFailed) → (task state, execution state); Kestra's guessState.
    let cases = [
        (Success, true, Success, Success),
        (Warning, true, Warning, Warning),
        (Failed, true, Failed, Failed),
        (Killed, true, Killed, Killed),
        (Cancelled, true, Success, Success),
        (Failed, false, Success, Success),
        (Killed, false, Success, Success),
        (Warning, false, Success, Success),
    ];
    for (child, transmit, task, outcome) in cases {
        let yaml = flow(&format!("{CALL}    transmitFailed: {transmit}\n"));
        let mut h = Harness::new(&yaml).with_inputs(json!({"mode": "m"}));
        let start = started(&h.step(&[]));
        let actions = h.step(&[ended(&start, child, json!({}))]);
        assert_eq!(
            actions,
            [Action::Ended { state: outcome }],
            "child {child}, transmitFailed {transmit}"
        );
        let run = &h.execution.task_runs[0];
        assert_eq!(run.state, task, "child {child}, transmitFailed {transmit}");
        assert_eq!(run.outputs.get("state"), Some(&json!(child.as_str())));
        if task == Failed {
            let error = run.error.clone().unwrap_or_default();
            assert!(
                error.contains(&start.execution_id) && error.contains("FAILED"),
                "{error}"
            );
        }
    }
}

#[test]
fn allow_failure_turns_a_failed_child_into_a_warning() {
    let yaml = flow(&format!("{CALL}    allowFailure: true\n"));
    let mut h = Harness::new(&yaml).with_inputs(json!({"mode": "m"}));
    let start = started(&h.step(&[]));
    assert_eq!(
        h.step(&[ended(&start, State::Failed, json!({}))]),
        [Action::Ended {
            state: State::Warning
        }]
    );
}

#[test]
fn a_subflow_that_does_not_wait_succeeds_once_its_child_exists() {
    let yaml = flow(&format!(
        "{CALL}    wait: false\n  - {{id: after, type: log, message: x}}\n"
    ));
    let mut h = Harness::new(&yaml).with_inputs(json!({"mode": "m"}));
    let start = started(&h.step(&[]));
    assert!(!start.parent.wait);
    let actions = h.step(&[begun(&start)]);
    assert!(
        matches!(actions.as_slice(), [Action::Dispatch { .. }]),
        "the next task starts in the same step: {actions:?}"
    );
    assert_eq!(h.execution.task_runs[0].state, State::Success);
    // The child's end, were it sent, changes nothing.
    let before = h.execution.clone();
    assert!(
        h.step(&[ended(&start, State::Failed, json!({}))])
            .is_empty()
    );
    assert_eq!(h.execution, before);
}

#[test]
fn a_refused_child_fails_the_task_with_the_executors_reason() {
    let yaml = flow(&format!("{CALL}  - {{id: after, type: log, message: x}}\n"));
    let mut h = Harness::new(&yaml).with_inputs(json!({"mode": "m"}));
    let start = started(&h.step(&[]));
    let refused = Event::SubflowRefused {
        task_run_id: start.task_run_id.clone(),
        error: "flow tests.children.m_child not found".into(),
    };
    assert_eq!(
        h.step(&[refused]),
        [Action::Ended {
            state: State::Failed
        }]
    );
    let run = &h.execution.task_runs[0];
    assert_eq!(
        run.error.as_deref(),
        Some("flow tests.children.m_child not found")
    );
    assert!(
        !run.outputs.contains_key("executionId"),
        "no child was created"
    );
}

#[test]
fn properties_that_do_not_render_fail_the_task_naming_them() {
    for (extra, property) in [
        (
            "    inputs:\n      a: \"{{ outputs.nope.value }}\"\n",
            "inputs",
        ),
        ("    labels: \"{{ 3 }}\"\n", "labels"),
        ("    scheduleDate: tomorrow\n", "scheduleDate"),
    ] {
        let mut h =
            Harness::new(&flow(&format!("{CALL}{extra}"))).with_inputs(json!({"mode": "m"}));
        assert_eq!(
            h.step(&[]),
            [Action::Ended {
                state: State::Failed
            }],
            "{property}"
        );
        let error = h.execution.task_runs[0].error.clone().unwrap_or_default();
        assert!(error.starts_with(&format!("{property}: ")), "{error}");
    }
    let mut h = Harness::new(&flow(CALL));
    h.step(&[]);
    let error = h.execution.task_runs[0].error.clone().unwrap_or_default();
    assert!(
        error.starts_with("flowId: ") && error.contains("inputs.mode"),
        "{error}"
    );
}

#[test]
fn schedule_date_and_inherited_labels_reach_the_start() {
    let yaml = flow(&format!(
        "{CALL}    scheduleDate: \"2030-01-02T03:04:05+01:00\"\n    inheritLabels: true\n"
    ));
    let mut h = Harness::new(&yaml).with_inputs(json!({"mode": "m"}));
    h.execution.labels.insert("team".into(), "data".into());
    let start = started(&h.step(&[]));
    assert_eq!(
        start.schedule_date.map(|d| d.to_rfc3339()),
        Some("2030-01-02T02:04:05+00:00".to_owned())
    );
    assert_eq!(
        start.inherited_labels,
        [("team".to_owned(), "data".to_owned())]
    );
}

fn child_of(depth: usize) -> ParentExecution {
    ParentExecution {
        execution_id: "parent".into(),
        namespace: "tests".into(),
        flow_id: "p".into(),
        flow_revision: 1,
        task_run_id: "parent-run".into(),
        task_id: "call".into(),
        task_run_value: None,
        task_run_iteration: None,
        wait: true,
        outputs: Map::new(),
        call_chain: (0..depth).map(|i| format!("tests.level{i}")).collect(),
    }
}

#[test]
fn subflows_nest_only_so_deep() {
    let mut h = Harness::new(&flow(CALL)).with_inputs(json!({"mode": "m"}));
    h.execution.parent_execution = Some(child_of(MAX_SUBFLOW_DEPTH - 1));
    let start = started(&h.step(&[]));
    assert_eq!(start.parent.call_chain.len(), MAX_SUBFLOW_DEPTH);

    let mut h = Harness::new(&flow(CALL)).with_inputs(json!({"mode": "m"}));
    h.execution.parent_execution = Some(child_of(MAX_SUBFLOW_DEPTH));
    let actions = h.step(&[]);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::StartSubflow(_))),
        "{actions:?}"
    );
    let error = h.execution.task_runs[0].error.clone().unwrap_or_default();
    assert!(
        error.contains(&format!("at most {MAX_SUBFLOW_DEPTH} levels"))
            && error.contains("tests.level0 → tests.level1")
            && error.ends_with("tests.t → tests.children.m_child)"),
        "{error}"
    );
}

#[test]
fn killing_the_parent_kills_children_it_has_not_seen_end() {
    let yaml = flow(
        "  - id: both\n    type: parallel\n    tasks:\n      - id: waits\n        type: subflow\n        namespace: tests\n        flowId: a\n      - id: fire_and_forget\n        type: subflow\n        namespace: tests\n        flowId: b\n        wait: false\n      - id: done\n        type: subflow\n        namespace: tests\n        flowId: c\n",
    );
    let mut h = Harness::new(&yaml);
    let starts: Vec<SubflowStart> = h
        .step(&[])
        .into_iter()
        .filter_map(|a| match a {
            Action::StartSubflow(start) => Some(*start),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 3);
    let mut events: Vec<Event> = starts.iter().map(begun).collect();
    events.push(ended(&starts[2], State::Success, json!({})));
    assert!(h.step(&events).is_empty());
    let actions = h.step(&[Event::Kill]);
    let killed: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Notify {
                execution_id,
                event: Event::Kill,
            } => Some(execution_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        killed,
        [
            starts[0].execution_id.as_str(),
            starts[1].execution_id.as_str()
        ]
    );
    assert!(
        actions.contains(&Action::Ended {
            state: State::Killed
        }),
        "the parent does not wait for its children to stop: {actions:?}"
    );
}

#[test]
fn a_restart_retries_the_failed_child_or_starts_a_new_one() {
    let mut h = Harness::new(&flow(CALL)).with_inputs(json!({"mode": "m"}));
    let start = started(&h.step(&[]));
    h.step(&[ended(&start, State::Failed, json!({}))]);
    assert_eq!(h.execution.state, State::Failed);
    let actions = h.step(&[Event::Restart]);
    assert_eq!(
        actions,
        [Action::Notify {
            execution_id: start.execution_id.clone(),
            event: Event::Restart
        }],
        "RETRY_FAILED restarts the same child"
    );
    assert_eq!(h.execution.task_runs[0].state, State::Running);
    assert_eq!(output(&h, "call", "state"), None);
    assert_eq!(
        h.step(&[ended(&start, State::Success, json!({}))]),
        [Action::Ended {
            state: State::Success
        }]
    );

    let yaml = flow(&format!("{CALL}    restartBehavior: NEW_EXECUTION\n"));
    let mut h = Harness::new(&yaml).with_inputs(json!({"mode": "m"}));
    let first = started(&h.step(&[]));
    h.step(&[ended(&first, State::Killed, json!({}))]);
    let second = started(&h.step(&[Event::Restart]));
    assert_ne!(second.execution_id, first.execution_id);
    assert_eq!(second.task_run_id, first.task_run_id, "the same task run");
    assert!(
        h.step(&[ended(&first, State::Success, json!({}))])
            .is_empty(),
        "the replaced child's end is ignored"
    );
    assert_eq!(
        h.step(&[ended(&second, State::Success, json!({}))]),
        [Action::Ended {
            state: State::Success
        }]
    );
}

#[test]
fn a_refused_child_is_asked_for_again_on_restart() {
    let mut h = Harness::new(&flow(CALL)).with_inputs(json!({"mode": "m"}));
    let start = started(&h.step(&[]));
    h.step(&[Event::SubflowRefused {
        task_run_id: start.task_run_id.clone(),
        error: "no".into(),
    }]);
    let again = started(&h.step(&[Event::Restart]));
    assert_ne!(again.execution_id, start.execution_id);
}

#[test]
fn a_child_tells_its_waiting_parent_how_it_ended() {
    let yaml = flow(
        "  - {id: a, type: return, format: x}\noutputs:\n  - id: answer\n    type: STRING\n    value: \"{{ outputs.a.value }}\"\n",
    );
    let mut h = Harness::new(&yaml);
    h.execution.parent_execution = Some(child_of(1));
    let end = h.run(|_, _| {
        let mut outputs = Map::new();
        outputs.insert("value".into(), json!("v"));
        (State::Success, outputs)
    });
    assert_eq!(end, State::Success);
    let notice = Action::Notify {
        execution_id: "parent".into(),
        event: Event::SubflowEnded {
            task_run_id: "parent-run".into(),
            execution_id: "exec-1".into(),
            state: State::Success,
            outputs: json!({"answer": "v"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            error: None,
        },
    };
    assert_eq!(h.log.last(), Some(&notice));
    // A restart from a parent that this ended execution cannot honour gets the same answer.
    assert_eq!(h.step(&[Event::Restart]), [notice]);
}

#[test]
fn the_subflow_tasks_own_outputs_are_rendered_in_the_childs_context() {
    let yaml = flow("  - {id: a, type: return, format: x}\n");
    let mut parent = child_of(1);
    parent
        .outputs
        .insert("got".into(), json!("{{ outputs.a.value }}!"));
    parent.outputs.insert("n".into(), json!("{{ 1 + 1 }}"));
    let mut h = Harness::new(&yaml);
    h.execution.parent_execution = Some(parent.clone());
    h.run(|_, _| {
        let mut outputs = Map::new();
        outputs.insert("value".into(), json!("v"));
        (State::Success, outputs)
    });
    let Some(Action::Notify {
        event: Event::SubflowEnded { outputs, error, .. },
        ..
    }) = h.log.last()
    else {
        panic!("{:?}", h.log.last())
    };
    assert_eq!(Value::Object(outputs.clone()), json!({"got": "v!", "n": 2}));
    assert_eq!(error, &None);

    parent.outputs = json!({"bad": "{{ outputs.missing.value }}"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut h = Harness::new(&yaml);
    h.execution.parent_execution = Some(parent);
    assert_eq!(
        h.run(super::tests::ok),
        State::Success,
        "the child itself succeeds"
    );
    let Some(Action::Notify {
        event: Event::SubflowEnded { error, .. },
        ..
    }) = h.log.last()
    else {
        panic!("{:?}", h.log.last())
    };
    let error = error.clone().unwrap_or_default();
    assert!(
        error.contains("output 'bad'") && error.contains("outputs.missing"),
        "{error}"
    );
}

#[test]
fn a_child_started_without_waiting_tells_nobody() {
    let mut h = Harness::new(&flow("  - {id: a, type: log, message: x}\n"));
    let mut parent = child_of(1);
    parent.wait = false;
    h.execution.parent_execution = Some(parent);
    assert_eq!(h.run(super::tests::ok), State::Success);
    assert!(!h.log.iter().any(|a| matches!(a, Action::Notify { .. })));
}
