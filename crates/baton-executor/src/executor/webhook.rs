//! The Webhook trigger: an HTTP request to `…/executions/webhook/{namespace}/{flowId}/{key}`
//! starts the flow, with the request as `trigger.body`, `trigger.headers` and
//! `trigger.parameters`.

use baton_core::execution::{ContextExtras, task_context};
use baton_core::flow::TriggerProps;
use baton_core::inputs::RawInput;
use baton_core::triggers::conditions::{Scope, all_hold};
use baton_core::triggers::{find_webhook, webhook_variables};
use baton_store::Store;

use super::create::{build_execution, new_execution};
use super::messages::StepMessage;
use super::{Error, ExecutorState, NewExecution};

/// The parts of the request a webhook passes on. Header names are lower case.
#[derive(Clone, Debug, Default)]
pub struct WebhookRequest {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// The query string's parameters.
    pub parameters: Vec<(String, String)>,
}

/// What a webhook call did.
#[derive(Debug)]
pub enum WebhookOutcome {
    /// An execution was created. `wait` and `return_outputs` are the trigger's: answer once
    /// it has ended, with its flow outputs rather than the execution.
    Started {
        execution: baton_core::execution::Execution,
        wait: bool,
        return_outputs: bool,
    },
    /// The trigger's `conditions` do not hold for this request: nothing started.
    ConditionsNotMet,
}

/// Starts the flow whose enabled Webhook trigger has `key`. A missing flow, a disabled or
/// deleted one, an invalid one and a wrong key all give the same [`Error::WebhookNotFound`], so
/// a caller without the key learns nothing about which flows exist.
pub async fn trigger_webhook(
    state: &ExecutorState,
    namespace: &str,
    flow_id: &str,
    key: &str,
    request: WebhookRequest,
) -> Result<WebhookOutcome, Error> {
    let store: &dyn Store = state.store.as_ref();
    let record = match store.get_flow(namespace, flow_id, None).await {
        Ok(record) if !record.disabled => record,
        Ok(_) | Err(baton_store::Error::FlowNotFound { .. }) => return Err(Error::WebhookNotFound),
        Err(other) => return Err(other.into()),
    };
    let flow = match state.flows.parse(&record) {
        Ok(flow) if !flow.flow.disabled => flow,
        Ok(_) => return Err(Error::WebhookNotFound),
        Err(error) => {
            tracing::warn!(%error, "a webhook names a flow that does not parse");
            return Err(Error::WebhookNotFound);
        }
    };
    let extras = ContextExtras {
        envs: state.envs.clone(),
        working_dir: None,
    };
    // The execution's id is chosen now, so the key, the conditions, the inputs and the labels
    // all see the one the execution gets.
    let id = uuid::Uuid::now_v7();
    let key_context = task_context(
        &flow.flow,
        &new_execution(&flow, id, &NewExecution::default()).1,
        None,
        &extras,
    );
    let render_key = |template: &str| {
        state
            .templates
            .render(template, &key_context, state.host.as_ref())
            .ok()
    };
    let Some(trigger) = find_webhook(&flow.flow, key, render_key) else {
        return Err(Error::WebhookNotFound);
    };
    let TriggerProps::Webhook(props) = &trigger.props else {
        return Err(Error::WebhookNotFound);
    };
    let mut new = NewExecution {
        namespace: flow.flow.namespace.clone(),
        flow_id: flow.flow.id.clone(),
        revision: Some(flow.revision),
        trigger: Some(webhook_variables(
            &request.body,
            &request.headers,
            &request.parameters,
        )),
        ..NewExecution::default()
    };
    // Conditions, inputs and labels see the execution about to start, `trigger.*` included.
    let (_, draft) = new_execution(&flow, id, &new);
    let context = task_context(&flow.flow, &draft, None, &extras);
    let scope = Scope {
        flow: &flow.flow,
        execution: &draft,
        context: &context,
        templates: &state.templates,
        host: state.host.as_ref(),
    };
    let holds = all_hold(&trigger.common.conditions, &scope)
        .map_err(|e| Error::Inputs(format!("trigger '{}': {e}", trigger.id)))?;
    if !holds {
        return Ok(WebhookOutcome::ConditionsNotMet);
    }
    for (name, value) in &props.inputs {
        let rendered = baton_core::triggers::render_trigger_value(
            value,
            &context,
            &state.templates,
            state.host.as_ref(),
        )
        .map_err(|e| Error::Inputs(format!("trigger '{}': input '{name}': {e}", trigger.id)))?;
        new.inputs.insert(name.clone(), RawInput::Json(rendered));
    }
    if let Some(labels) = &props.labels {
        new.labels = baton_core::triggers::render_trigger_labels(
            labels,
            &context,
            &state.templates,
            state.host.as_ref(),
        )
        .map_err(|e| Error::Inputs(format!("trigger '{}': {e}", trigger.id)))?;
    }
    let (row, execution) = build_execution(state, &flow, id, new)?;
    store
        .create_execution(&row, &StepMessage::message(&execution.id, Vec::new()))
        .await?;
    Ok(WebhookOutcome::Started {
        execution,
        wait: props.wait,
        return_outputs: props.return_outputs,
    })
}
