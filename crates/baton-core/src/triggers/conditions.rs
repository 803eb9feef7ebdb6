//! Whether a trigger's `conditions` hold for an execution.

use serde_json::Value;

use super::truthy;
use crate::execution::Execution;
use crate::flow::Flow;
use crate::flow::condition::{Condition, NamespaceComparison};
use crate::template::{TemplateEngine, TemplateHost};

/// What conditions look at.
pub struct Scope<'a> {
    /// The flow that owns the trigger (`FlowCondition`, `FlowNamespaceCondition`).
    pub flow: &'a Flow,
    /// The execution the `Execution…` conditions look at: the upstream execution for a Flow
    /// trigger, the one about to start for a webhook.
    pub execution: &'a Execution,
    /// The template context of `Expression` and `ExecutionOutputs` conditions.
    pub context: &'a Value,
    pub templates: &'a TemplateEngine,
    pub host: &'a dyn TemplateHost,
}

/// True when every condition of the list holds (an empty list holds). A condition that cannot
/// be read or rendered is an error naming it.
pub fn all_hold(conditions: &[Value], scope: &Scope<'_>) -> Result<bool, String> {
    for raw in conditions {
        let condition = Condition::from_json(raw)?;
        if !holds(&condition, scope)? {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn holds(condition: &Condition, scope: &Scope<'_>) -> Result<bool, String> {
    let execution = scope.execution;
    Ok(match condition {
        Condition::ExecutionFlow { namespace, flow_id } => {
            &execution.namespace == namespace && &execution.flow_id == flow_id
        }
        Condition::ExecutionNamespace {
            namespace,
            comparison,
        } => match comparison {
            NamespaceComparison::Equals => &execution.namespace == namespace,
            NamespaceComparison::Prefix => execution.namespace.starts_with(namespace.as_str()),
            NamespaceComparison::Suffix => execution.namespace.ends_with(namespace.as_str()),
        },
        Condition::ExecutionStatus { in_states, not_in } => {
            let state = execution.state.as_str();
            let listed = |states: &Option<Vec<String>>| {
                states.as_ref().map(|s| s.iter().any(|name| name == state))
            };
            listed(in_states).unwrap_or(true) && !listed(not_in).unwrap_or(false)
        }
        Condition::ExecutionLabels { labels } => labels
            .iter()
            .all(|(key, value)| execution.labels.get(key) == Some(value)),
        Condition::ExecutionOutputs { expression } => {
            if execution.outputs.is_empty() {
                return Ok(false);
            }
            let mut context = scope.context.clone();
            if let Value::Object(map) = &mut context {
                let trigger = map
                    .entry("trigger")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(trigger) = trigger {
                    trigger.insert("outputs".into(), Value::Object(execution.outputs.clone()));
                }
            }
            render_truthy(expression, &context, scope)?
        }
        Condition::Expression { expression } => render_truthy(expression, scope.context, scope)?,
        Condition::Flow { namespace, flow_id } => {
            &scope.flow.namespace == namespace && &scope.flow.id == flow_id
        }
        Condition::FlowNamespace { namespace, prefix } => {
            &scope.flow.namespace == namespace
                || (*prefix && scope.flow.namespace.starts_with(&format!("{namespace}.")))
        }
        Condition::Not(conditions) => {
            for condition in conditions {
                if holds(condition, scope)? {
                    return Ok(false);
                }
            }
            true
        }
        Condition::Or(conditions) => {
            for condition in conditions {
                if holds(condition, scope)? {
                    return Ok(true);
                }
            }
            false
        }
    })
}

fn render_truthy(expression: &str, context: &Value, scope: &Scope<'_>) -> Result<bool, String> {
    scope
        .templates
        .render(expression, context, scope.host)
        .map(|rendered| truthy(&rendered))
        .map_err(|e| format!("condition expression '{expression}': {e}"))
}
