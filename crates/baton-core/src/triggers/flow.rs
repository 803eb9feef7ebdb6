//! The Flow trigger: start this flow when an execution of another one changes state.

use chrono::{DateTime, NaiveTime, Utc};
use indexmap::IndexMap;
use serde_json::{Value, json};

use super::conditions::{Scope, all_hold};
use crate::execution::{ContextExtras, Execution, task_context};
use crate::flow::condition::{
    ExecutionFilter, FilterField, FilterType, Operand, Preconditions, TimeWindowType, UpstreamFlow,
    labels_of,
};
use crate::flow::trigger::FlowTriggerProps;
use crate::flow::{Flow, Trigger, TriggerProps};
use crate::template::{TemplateEngine, TemplateHost, is_template};

/// The upstream states a Flow trigger listens to when it names none: Kestra's terminal states.
const DEFAULT_STATES: &[&str] = &[
    "SUCCESS",
    "WARNING",
    "FAILED",
    "KILLED",
    "CANCELLED",
    "RETRIED",
    "SKIPPED",
];

/// What a Flow trigger that fires asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowTriggerFire {
    pub trigger_id: String,
    /// The new execution's `trigger.*`.
    pub variables: Value,
    /// The trigger's `inputs`, rendered; or why they could not be (the execution then fails,
    /// saying so, rather than silently not starting).
    pub inputs: Result<IndexMap<String, Value>, String>,
    /// The trigger's `labels`, rendered.
    pub labels: IndexMap<String, String>,
}

/// `trigger.*` for an execution started by `upstream`: its id, flow, state and flow outputs.
pub fn flow_trigger_variables(upstream: &Execution) -> Value {
    json!({
        "executionId": upstream.id,
        "namespace": upstream.namespace,
        "flowId": upstream.flow_id,
        "flowRevision": upstream.flow_revision,
        "state": upstream.state.as_str(),
        "outputs": upstream.outputs,
    })
}

/// What a Flow trigger makes of an upstream execution.
#[derive(Clone, Debug, PartialEq)]
pub enum FlowTriggerCheck {
    /// It does not fire.
    Skip,
    /// It fires now.
    Fire(FlowTriggerFire),
    /// Its `preconditions` span several executions: this one met the conditions `met` (keys
    /// of [`super::window::condition_keys`]). The caller records them in the trigger's stored
    /// window ([`super::window::record`]) and fires `fire` when the window says so.
    Record {
        met: Vec<String>,
        fire: FlowTriggerFire,
    },
}

/// Decides what `trigger` (a Flow trigger of `flow`) does for `upstream`, an execution that
/// just reached its current state. `Err`: a condition could not be evaluated (its template
/// failed); the trigger does not fire and the caller reports why.
///
/// As in Kestra, a flow never triggers itself, templates see the upstream execution
/// (`execution`, `outputs`, `inputs`, `labels`) with the triggered flow as `flow`, and
/// `trigger.*` holds [`flow_trigger_variables`].
pub fn evaluate_flow_trigger(
    flow: &Flow,
    trigger: &Trigger,
    upstream: &Execution,
    now: DateTime<Utc>,
    templates: &TemplateEngine,
    host: &dyn TemplateHost,
    extras: &ContextExtras,
) -> Result<FlowTriggerCheck, String> {
    let TriggerProps::Flow(props) = &trigger.props else {
        return Ok(FlowTriggerCheck::Skip);
    };
    let own_execution = upstream.namespace == flow.namespace && upstream.flow_id == flow.id;
    if flow.disabled || trigger.common.disabled || own_execution || !listens_to(props, upstream) {
        return Ok(FlowTriggerCheck::Skip);
    }
    let variables = flow_trigger_variables(upstream);
    let mut context = task_context(flow, upstream, None, extras);
    context["trigger"] = variables.clone();
    let scope = Scope {
        flow,
        execution: upstream,
        context: &context,
        templates,
        host,
    };
    if !all_hold(&trigger.common.conditions, &scope)? {
        return Ok(FlowTriggerCheck::Skip);
    }
    let met = match &props.preconditions {
        Some(preconditions) => {
            let met = preconditions_met(preconditions, &scope)?;
            let single = preconditions.condition_count() == 1;
            if met.is_empty() || (single && !window_open(preconditions, now.time())) {
                return Ok(FlowTriggerCheck::Skip);
            }
            // One condition needs no window: met is met.
            (!single).then_some(met)
        }
        None => None,
    };
    let render = |value: &Value| render_trigger_value(value, &context, templates, host);
    let inputs = props
        .inputs
        .iter()
        .map(|(name, value)| {
            render(value)
                .map(|rendered| (name.clone(), rendered))
                .map_err(|e| format!("trigger '{}': input '{name}': {e}", trigger.id))
        })
        .collect();
    let labels = match &props.labels {
        Some(labels) => render_trigger_labels(labels, &context, templates, host)
            .map_err(|e| format!("trigger '{}': {e}", trigger.id))?,
        None => IndexMap::new(),
    };
    let fire = FlowTriggerFire {
        trigger_id: trigger.id.clone(),
        variables,
        inputs,
        labels,
    };
    Ok(match met {
        Some(met) => FlowTriggerCheck::Record { met, fire },
        None => FlowTriggerCheck::Fire(fire),
    })
}

fn listens_to(props: &FlowTriggerProps, upstream: &Execution) -> bool {
    let state = upstream.state.as_str();
    match &props.states {
        Some(states) => states.iter().any(|s| s == state),
        None => DEFAULT_STATES.contains(&state),
    }
}

/// A trigger value rendered: a lone `{{ expr }}` keeps its type (a map stays a map).
pub fn render_trigger_value(
    value: &Value,
    context: &Value,
    templates: &TemplateEngine,
    host: &dyn TemplateHost,
) -> Result<Value, String> {
    match value {
        Value::String(text) if is_template(text) => templates.render_typed(text, context, host),
        other => templates.render_value(other, context, host),
    }
    .map_err(|e| e.to_string())
}

/// Trigger `labels` (a map or `[{key, value}]`), values rendered.
pub fn render_trigger_labels(
    labels: &Value,
    context: &Value,
    templates: &TemplateEngine,
    host: &dyn TemplateHost,
) -> Result<IndexMap<String, String>, String> {
    labels_of(labels)?
        .into_iter()
        .map(|(key, value)| {
            templates
                .render(&value, context, host)
                .map(|rendered| (key.clone(), rendered))
                .map_err(|e| format!("label '{key}': {e}"))
        })
        .collect()
}

/// The keys of the preconditions this execution meets (see [`super::window::condition_keys`]).
fn preconditions_met(
    preconditions: &Preconditions,
    scope: &Scope<'_>,
) -> Result<Vec<String>, String> {
    let mut met = Vec::new();
    for (index, upstream) in preconditions.flows.iter().enumerate() {
        if upstream_flow_matches(upstream, scope.execution) {
            met.push(format!("flows[{index}]"));
        }
    }
    for group in &preconditions.filters {
        if filter_holds(group, scope)? {
            met.push(format!("where[{}]", group.id));
        }
    }
    Ok(met)
}

/// Daily windows only let the trigger fire during their hours (UTC); duration and sliding
/// windows are always open.
fn window_open(preconditions: &Preconditions, time: NaiveTime) -> bool {
    let Some(window) = &preconditions.time_window else {
        return true;
    };
    match window.window_type {
        TimeWindowType::DurationWindow | TimeWindowType::SlidingWindow => true,
        TimeWindowType::DailyTimeDeadline => window.deadline.is_none_or(|deadline| time < deadline),
        TimeWindowType::DailyTimeWindow => {
            window.start_time.is_none_or(|start| time >= start)
                && window.end_time.is_none_or(|end| time < end)
        }
    }
}

fn upstream_flow_matches(upstream: &UpstreamFlow, execution: &Execution) -> bool {
    if upstream.namespace != execution.namespace {
        return false;
    }
    if upstream
        .flow_id
        .as_ref()
        .is_some_and(|id| id != &execution.flow_id)
    {
        return false;
    }
    let state = execution.state.as_str();
    if upstream
        .states
        .as_ref()
        .is_some_and(|states| !states.iter().any(|s| s == state))
    {
        return false;
    }
    upstream.labels.iter().flatten().all(|(key, value)| {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        execution.labels.get(key) == Some(&text)
    })
}

fn filter_holds(group: &ExecutionFilter, scope: &Scope<'_>) -> Result<bool, String> {
    let mut results = Vec::with_capacity(group.filters.len());
    for filter in &group.filters {
        let execution = scope.execution;
        let field = match filter.field {
            FilterField::FlowId => Some(execution.flow_id.clone()),
            FilterField::Namespace => Some(execution.namespace.clone()),
            FilterField::State => Some(execution.state.as_str().to_owned()),
            FilterField::Expression => match &filter.value {
                Some(expression) => Some(
                    scope
                        .templates
                        .render(expression, scope.context, scope.host)
                        .map_err(|e| format!("preconditions filter '{}': {e}", group.id))?,
                ),
                None => None,
            },
        };
        results.push(compare(filter.filter_type, field.as_deref(), filter));
    }
    Ok(match group.operand {
        Operand::And => results.iter().all(|r| *r),
        Operand::Or => results.iter().any(|r| *r),
    })
}

/// Kestra's comparisons, including its quirk that `EQUAL_TO` on an `EXPRESSION` field compares
/// the rendered expression with the expression text itself.
fn compare(
    filter_type: FilterType,
    field: Option<&str>,
    filter: &crate::flow::condition::Filter,
) -> bool {
    let value = filter.value.as_deref();
    let values = filter.values.as_deref().unwrap_or_default();
    match filter_type {
        FilterType::EqualTo => field.is_some() && field == value,
        FilterType::NotEqualTo => field != value,
        FilterType::In => field.is_some_and(|f| values.iter().any(|v| v == f)),
        FilterType::NotIn => !field.is_some_and(|f| values.iter().any(|v| v == f)),
        FilterType::IsTrue => field.is_some_and(super::truthy),
        FilterType::IsFalse => !field.is_some_and(super::truthy),
        FilterType::IsNull => field.is_none(),
        FilterType::IsNotNull => field.is_some(),
        FilterType::StartsWith => field.zip(value).is_some_and(|(f, v)| f.starts_with(v)),
        FilterType::EndsWith => field.zip(value).is_some_and(|(f, v)| f.ends_with(v)),
        FilterType::Contains => field.zip(value).is_some_and(|(f, v)| f.contains(v)),
        FilterType::Regex => field.zip(value).is_some_and(|(f, v)| {
            regex::Regex::new(&format!("^(?:{v})$")).is_ok_and(|re| re.is_match(f))
        }),
    }
}
