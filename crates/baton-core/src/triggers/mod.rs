//! Evaluating event triggers: the Flow trigger (an execution of another flow changed state)
//! and the Webhook trigger (an HTTP request). Pure functions: the executor and the API do the
//! IO and call these to decide whether, and with what, an execution starts.
//!
//! Schedule triggers are evaluated by the scheduler, not here.

pub mod conditions;
pub mod flow;
pub mod webhook;
pub mod window;

#[cfg(test)]
mod tests;

pub use conditions::Scope;
pub use flow::{
    FlowTriggerCheck, FlowTriggerFire, evaluate_flow_trigger, flow_trigger_variables,
    render_trigger_labels, render_trigger_value,
};
pub use webhook::{find_webhook, webhook_variables};

/// Kestra's truthiness of a rendered condition: false when blank or `false`.
pub(crate) fn truthy(rendered: &str) -> bool {
    let trimmed = rendered.trim();
    !(trimmed.is_empty() || trimmed == "false")
}
