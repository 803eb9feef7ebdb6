//! Flow trigger decisions on small flows and hand-made upstream executions.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::window::{PreconditionWindow, bounds, condition_keys, record};
use super::{FlowTriggerCheck, evaluate_flow_trigger, find_webhook};
use crate::execution::{ContextExtras, Execution, State};
use crate::flow::Flow;
use crate::parse::parse_flow;
use crate::template::{RenderLimits, TemplateEngine, TemplateHost};

struct Secrets;

impl TemplateHost for Secrets {
    fn secret(&self, name: &str) -> Result<Option<String>, String> {
        Ok((name == "WEBHOOK_KEY").then(|| "from-secret".to_owned()))
    }
    fn kv(&self, _: &str, _: &str) -> Result<Option<Value>, String> {
        Ok(None)
    }
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("no file {path}"))
    }
    fn now(&self) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH
    }
}

fn flow(yaml: &str) -> Flow {
    let parsed = parse_flow(yaml);
    parsed
        .flow
        .unwrap_or_else(|| panic!("invalid flow: {:#?}", parsed.diagnostics))
}

fn upstream(namespace: &str, flow_id: &str, state: State) -> Execution {
    let mut execution = Execution::new("up-1".into(), namespace, flow_id, 3, DateTime::UNIX_EPOCH);
    execution.set_state(State::Running, DateTime::UNIX_EPOCH);
    execution.set_state(state, DateTime::UNIX_EPOCH);
    execution
}

fn at(hour: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2025, 3, 1)
        .and_then(|d| d.and_hms_opt(hour, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or_default()
}

/// Which triggers of `flow` fire for `upstream` at `now`, with their rendered inputs.
fn fired(flow: &Flow, upstream: &Execution, now: DateTime<Utc>) -> Vec<(String, Value)> {
    let templates = TemplateEngine::new(RenderLimits::default());
    flow.triggers
        .iter()
        .map(|trigger| {
            evaluate_flow_trigger(
                flow,
                trigger,
                upstream,
                now,
                &templates,
                &Secrets,
                &ContextExtras::default(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", trigger.id))
        })
        .filter_map(|check| match check {
            FlowTriggerCheck::Fire(fire) => Some(fire),
            FlowTriggerCheck::Skip => None,
            FlowTriggerCheck::Record { .. } => panic!("single conditions need no window"),
        })
        .map(|fire| (fire.trigger_id, json!(fire.inputs.expect("inputs render"))))
        .collect()
}

const TRANSFORM: &str = r#"
id: transform
namespace: company.team
inputs:
  - id: date
    type: STRING
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.date }}"
triggers:
  - id: after_extract
    type: io.kestra.plugin.core.trigger.Flow
    inputs:
      date: "{{ trigger.outputs.date }}"
      from: "{{ trigger.executionId }}/{{ trigger.state }}"
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: company.team
        flowId: extract
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [SUCCESS]
"#;

#[test]
fn a_matching_upstream_execution_fires_with_its_outputs_as_trigger_outputs() {
    let flow = flow(TRANSFORM);
    let mut done = upstream("company.team", "extract", State::Success);
    done.outputs.insert("date".into(), json!("2025-02-27"));
    assert_eq!(
        fired(&flow, &done, at(12)),
        [(
            "after_extract".to_owned(),
            json!({"date": "2025-02-27", "from": "up-1/SUCCESS"})
        )]
    );
}

#[test]
fn other_flows_other_states_and_the_flow_itself_do_not_fire() {
    let flow = flow(TRANSFORM);
    for execution in [
        upstream("company.team", "load", State::Success),
        upstream("company.team", "extract", State::Failed),
        upstream("company.team", "extract", State::Running),
        upstream("company.team", "transform", State::Success),
    ] {
        assert!(fired(&flow, &execution, at(12)).is_empty(), "{execution:?}");
    }
}

#[test]
fn states_default_to_terminal_ones_and_conditions_combine() {
    let flow = flow(
        r#"
id: alert
namespace: company.ops
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.flowId }}"
triggers:
  - id: failures
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionNamespace
        namespace: company
        comparison: PREFIX
      - type: io.kestra.plugin.core.condition.Not
        conditions:
          - type: io.kestra.plugin.core.condition.ExecutionStatus
            in: [SUCCESS]
      - type: io.kestra.plugin.core.condition.Or
        conditions:
          - type: io.kestra.plugin.core.condition.ExecutionLabels
            labels: {team: data}
          - type: io.kestra.plugin.core.condition.Expression
            expression: "{{ execution.state == 'KILLED' }}"
"#,
    );
    let mut labelled = upstream("company.data", "load", State::Failed);
    labelled.labels.insert("team".into(), "data".into());
    assert_eq!(fired(&flow, &labelled, at(1)).len(), 1);
    assert_eq!(
        fired(
            &flow,
            &upstream("company.data", "load", State::Killed),
            at(1)
        )
        .len(),
        1,
        "the expression sees the upstream execution"
    );
    assert!(
        fired(
            &flow,
            &upstream("company.data", "load", State::Failed),
            at(1)
        )
        .is_empty()
    );
    assert!(fired(&flow, &upstream("other", "load", State::Killed), at(1)).is_empty());
    assert!(
        fired(
            &flow,
            &upstream("company.data", "load", State::Paused),
            at(1)
        )
        .is_empty(),
        "PAUSED is not a default state"
    );
}

#[test]
fn preconditions_check_the_upstream_flow_and_their_daily_window() {
    let flow = flow(
        r#"
id: silver
namespace: company.team
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: go
triggers:
  - id: bronze_done
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: bronze
      flows:
        - namespace: company.team
          flowId: bronze
          states: [SUCCESS]
          labels: {env: prod}
      timeWindow:
        type: DAILY_TIME_DEADLINE
        deadline: "09:00:00"
"#,
    );
    let mut bronze = upstream("company.team", "bronze", State::Success);
    assert!(fired(&flow, &bronze, at(8)).is_empty(), "label missing");
    bronze.labels.insert("env".into(), "prod".into());
    assert_eq!(fired(&flow, &bronze, at(8)).len(), 1);
    assert!(
        fired(&flow, &bronze, at(10)).is_empty(),
        "after the deadline"
    );
}

#[test]
fn precondition_filters_follow_their_operand() {
    let flow = flow(
        r#"
id: publish
namespace: company.team
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: go
triggers:
  - id: any_prod_load
    type: io.kestra.plugin.core.trigger.Flow
    states: [SUCCESS, WARNING]
    preconditions:
      id: prod
      where:
        - id: prod_or_load
          operand: OR
          filters:
            - field: NAMESPACE
              type: STARTS_WITH
              value: company.prod
            - field: FLOW_ID
              type: REGEX
              value: "load_[0-9]+"
"#,
    );
    assert_eq!(
        fired(
            &flow,
            &upstream("company.prod.x", "a", State::Success),
            at(1)
        )
        .len(),
        1
    );
    assert_eq!(
        fired(&flow, &upstream("dev", "load_12", State::Warning), at(1)).len(),
        1
    );
    assert!(fired(&flow, &upstream("dev", "load_x", State::Success), at(1)).is_empty());
}

#[test]
fn webhooks_are_found_by_their_rendered_key_unless_disabled() {
    let flow = flow(
        r#"
id: hooked
namespace: company.team
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: go
triggers:
  - id: off
    type: io.kestra.plugin.core.trigger.Webhook
    key: plain-key
    disabled: true
  - id: templated
    type: io.kestra.plugin.core.trigger.Webhook
    key: "{{ secret('WEBHOOK_KEY') }}"
"#,
    );
    let templates = TemplateEngine::new(RenderLimits::default());
    let render = |key: &str| templates.render(key, &json!({}), &Secrets).ok();
    assert_eq!(
        find_webhook(&flow, "from-secret", render).map(|t| t.id.as_str()),
        Some("templated")
    );
    assert!(
        find_webhook(&flow, "plain-key", render).is_none(),
        "disabled"
    );
    assert!(find_webhook(&flow, "{{ secret('WEBHOOK_KEY') }}", render).is_none());
}

const BOTH: &str = r#"
id: report
namespace: company.team
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: go
triggers:
  - id: both_loaded
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: both
      flows:
        - namespace: company.team
          flowId: sales
          states: [SUCCESS]
        - namespace: company.team
          flowId: stock
          states: [SUCCESS]
"#;

/// What the trigger of `flow` asks to record for `upstream`.
fn met_by(flow: &Flow, upstream: &Execution) -> Vec<String> {
    let templates = TemplateEngine::new(RenderLimits::default());
    match evaluate_flow_trigger(
        flow,
        &flow.triggers[0],
        upstream,
        at(12),
        &templates,
        &Secrets,
        &ContextExtras::default(),
    )
    .expect("evaluates")
    {
        FlowTriggerCheck::Record { met, .. } => met,
        FlowTriggerCheck::Skip => Vec::new(),
        FlowTriggerCheck::Fire(_) => panic!("several conditions wait in a window"),
    }
}

#[test]
fn conditions_met_by_different_executions_add_up_in_the_window() {
    let flow = flow(BOTH);
    let preconditions = match &flow.triggers[0].props {
        crate::flow::TriggerProps::Flow(props) => props.preconditions.clone().expect("set"),
        _ => unreachable!(),
    };
    assert_eq!(condition_keys(&preconditions), ["flows[0]", "flows[1]"]);
    let sales = met_by(&flow, &upstream("company.team", "sales", State::Success));
    let stock = met_by(&flow, &upstream("company.team", "stock", State::Success));
    assert_eq!(sales, ["flows[0]"]);
    assert_eq!(stock, ["flows[1]"]);
    assert!(met_by(&flow, &upstream("company.team", "stock", State::Failed)).is_empty());

    let first = record(&preconditions, None, &sales, at(10));
    assert!(!first.fires);
    let window = first.window.clone().expect("kept");
    assert_eq!(
        (window.start, window.end),
        (at(0), at(0) + chrono::Duration::days(1)),
        "a day, from midnight"
    );
    let again = record(&preconditions, first.window, &sales, at(11));
    assert!(!again.fires, "the same condition twice is not both");
    let done = record(&preconditions, again.window, &stock, at(12));
    assert!(done.fires);
    assert_eq!(done.window, None, "reset on success");

    // Yesterday's half does not count today.
    let yesterday = PreconditionWindow {
        start: at(0) - chrono::Duration::days(1),
        end: at(0),
        met: ["flows[0]".to_owned()].into(),
    };
    let today = record(&preconditions, Some(yesterday), &stock, at(12));
    assert!(!today.fires);
    assert_eq!(today.window.map(|w| w.met.len()), Some(1));
}

#[test]
fn without_reset_every_new_result_fires_again_within_the_window() {
    let flow = flow(&BOTH.replace(
        "      id: both",
        "      id: both\n      resetOnSuccess: false",
    ));
    let crate::flow::TriggerProps::Flow(props) = &flow.triggers[0].props else {
        unreachable!()
    };
    let preconditions = props.preconditions.clone().expect("set");
    let sales = ["flows[0]".to_owned()];
    let stock = ["flows[1]".to_owned()];
    let one = record(&preconditions, None, &sales, at(9));
    let two = record(&preconditions, one.window, &stock, at(10));
    assert!(two.fires);
    let three = record(&preconditions, two.window, &sales, at(11));
    assert!(three.fires, "the window stays complete");
}

#[test]
fn window_bounds_follow_kestra() {
    let parse = |yaml: &str| -> crate::flow::condition::TimeWindow {
        serde_json::from_value(serde_json::from_str::<Value>(yaml).expect("json")).expect("window")
    };
    let now = at(14) + chrono::Duration::minutes(37);
    assert_eq!(
        bounds(None, now),
        (at(0), at(0) + chrono::Duration::days(1))
    );
    let six_hours = parse(r#"{"window": "PT6H", "windowAdvance": "PT30M"}"#);
    let start = at(14) + chrono::Duration::minutes(30);
    assert_eq!(
        bounds(Some(&six_hours), now),
        (start, start + chrono::Duration::hours(6))
    );
    let sliding = parse(r#"{"type": "SLIDING_WINDOW", "window": "PT1H"}"#);
    assert_eq!(
        bounds(Some(&sliding), now),
        (now, now + chrono::Duration::hours(1))
    );
    let deadline = parse(r#"{"type": "DAILY_TIME_DEADLINE", "deadline": "09:00:00"}"#);
    assert_eq!(bounds(Some(&deadline), now), (at(0), at(9)));
    let daily =
        parse(r#"{"type": "DAILY_TIME_WINDOW", "startTime": "06:00:00", "endTime": "18:00:00"}"#);
    assert_eq!(bounds(Some(&daily), now), (at(6), at(18)));
}

#[test]
fn a_daily_window_outside_its_hours_records_nothing() {
    let flow = flow(&BOTH.replace(
        "      flows:",
        "      timeWindow:\n        type: DAILY_TIME_DEADLINE\n        deadline: \"09:00:00\"\n      flows:",
    ));
    let crate::flow::TriggerProps::Flow(props) = &flow.triggers[0].props else {
        unreachable!()
    };
    let preconditions = props.preconditions.clone().expect("set");
    let late = record(&preconditions, None, &["flows[0]".to_owned()], at(10));
    assert_eq!(late.window, None);
    let early = record(&preconditions, None, &["flows[0]".to_owned()], at(8));
    assert!(early.window.is_some());
}
