//! Flow triggers: when an execution changes state, the flows whose Flow trigger fires for it
//! get a new execution, created in the same transaction as the state change, so each
//! upstream state change starts each triggered flow exactly once.
//!
//! The executor keeps an index of the live flows that have an enabled Flow trigger. The store
//! counts flow changes (`flows_generation`); a step reads the count inside its transaction and,
//! when the index is older, drops the transaction, reloads the index and steps again — so the
//! flows a step sees are never older than its transaction.

use std::sync::{Arc, Mutex};

use baton_core::execution::{ContextExtras, Execution, State};
use baton_core::flow::{Trigger, TriggerProps};
use baton_core::inputs::RawInput;
use baton_core::triggers::window::{self, PreconditionWindow};
use baton_core::triggers::{FlowTriggerCheck, FlowTriggerFire, evaluate_flow_trigger};
use baton_store::{ExecutionTx, FlowFilter, NewMessage, Store, TriggerKey};

use super::create::{build_execution, new_execution};
use super::flows::FlowRevision;
use super::messages::StepMessage;
use super::{Error, ExecutorState, NewExecution};

/// Flows with an enabled Flow trigger, as of one `flows_generation`.
#[derive(Default)]
pub struct FlowTriggerIndex {
    current: Mutex<Option<Arc<Snapshot>>>,
}

struct Snapshot {
    generation: i64,
    flows: Vec<Arc<FlowRevision>>,
}

/// Flows listed per page when the index is reloaded.
const PAGE: u32 = 500;

impl FlowTriggerIndex {
    fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The index's flows if it is as new as `generation`; `None` when it must be reloaded.
    fn flows_at(&self, generation: i64) -> Option<Arc<Snapshot>> {
        self.snapshot().filter(|s| s.generation == generation)
    }

    /// Reloads the index from the store. Flows that no longer parse (a newer Baton reading an
    /// older flow) are skipped with a warning rather than stopping every step.
    pub(super) async fn reload(&self, state: &ExecutorState) -> Result<(), Error> {
        let store: &dyn Store = state.store.as_ref();
        // Read before listing: a change committed in between makes the next step reload again.
        let generation = store.flows_generation().await?;
        let mut flows = Vec::new();
        let mut filter = FlowFilter {
            limit: PAGE,
            ..FlowFilter::default()
        };
        loop {
            let page = store.list_flows(&filter).await?;
            let full = page.len() >= PAGE as usize;
            for record in &page {
                if record.disabled {
                    continue;
                }
                match state.flows.parse(record) {
                    Ok(parsed) if has_flow_trigger(&parsed) => flows.push(parsed),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "flow skipped by the Flow trigger index"),
                }
            }
            match page.last() {
                Some(last) if full => {
                    filter.after = Some((last.namespace.clone(), last.id.clone()));
                }
                _ => break,
            }
        }
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Arc::new(Snapshot { generation, flows }));
        Ok(())
    }
}

fn has_flow_trigger(flow: &FlowRevision) -> bool {
    !flow.flow.disabled
        && flow
            .flow
            .triggers
            .iter()
            .any(|t| matches!(t.props, TriggerProps::Flow(_)) && !t.common.disabled)
}

/// The flows triggered by `upstream`'s new state, created in `tx`; returns their first step
/// messages. `Err(Error::StaleFlowIndex)` when the index is older than the transaction.
pub(super) async fn fire(
    state: &ExecutorState,
    tx: &mut dyn ExecutionTx,
    upstream: &Execution,
) -> Result<Vec<NewMessage>, Error> {
    let generation = tx.flows_generation().await?;
    let Some(snapshot) = state.flow_triggers.flows_at(generation) else {
        return Err(Error::StaleFlowIndex);
    };
    let extras = ContextExtras {
        envs: state.envs.clone(),
        working_dir: None,
    };
    let now = chrono::Utc::now();
    let mut messages = Vec::new();
    for flow in &snapshot.flows {
        for trigger in &flow.flow.triggers {
            let check = evaluate_flow_trigger(
                &flow.flow,
                trigger,
                upstream,
                now,
                &state.templates,
                state.host.as_ref(),
                &extras,
            );
            let fire = match check {
                Ok(FlowTriggerCheck::Skip) => continue,
                Ok(FlowTriggerCheck::Fire(fire)) => fire,
                Ok(FlowTriggerCheck::Record { met, fire }) => {
                    if !record_in_window(tx, flow, trigger, &met, now).await? {
                        continue;
                    }
                    fire
                }
                Err(error) => {
                    tracing::warn!(
                        flow = %format!("{}.{}", flow.flow.namespace, flow.flow.id),
                        trigger = %trigger.id,
                        upstream = %upstream.id,
                        %error,
                        "a Flow trigger condition could not be evaluated; the trigger did not fire"
                    );
                    continue;
                }
            };
            let (row, execution) = triggered_execution(state, flow, fire)?;
            tx.insert_execution(&row).await?;
            if !execution.state.is_terminal() {
                messages.push(StepMessage::message(&execution.id, Vec::new()));
            }
        }
    }
    Ok(messages)
}

/// Adds the preconditions `met` to the trigger's stored window, under its row lock; true when
/// the window is complete and the trigger fires. A stored window this version cannot read
/// starts over.
async fn record_in_window(
    tx: &mut dyn ExecutionTx,
    flow: &FlowRevision,
    trigger: &Trigger,
    met: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, Error> {
    let TriggerProps::Flow(props) = &trigger.props else {
        return Ok(false);
    };
    let Some(preconditions) = &props.preconditions else {
        return Ok(false);
    };
    let key = TriggerKey::new(&flow.flow.namespace, &flow.flow.id, &trigger.id);
    let stored = tx
        .lock_trigger_window(&key)
        .await?
        .and_then(|state| serde_json::from_value::<PreconditionWindow>(state).ok());
    let recorded = window::record(preconditions, stored, met, now);
    let state = recorded
        .window
        .as_ref()
        .and_then(|w| serde_json::to_value(w).ok());
    tx.save_trigger_window(&key, state.as_ref()).await?;
    Ok(recorded.fires)
}

/// The execution a fired trigger starts; if its inputs cannot be rendered or are refused, an
/// execution that is FAILED at once and says why (so the user sees the trigger fired).
fn triggered_execution(
    state: &ExecutorState,
    flow: &FlowRevision,
    fire: FlowTriggerFire,
) -> Result<(baton_store::Execution, Execution), Error> {
    let mut request = NewExecution {
        namespace: flow.flow.namespace.clone(),
        flow_id: flow.flow.id.clone(),
        revision: Some(flow.revision),
        labels: fire.labels,
        trigger: Some(fire.variables),
        ..NewExecution::default()
    };
    let id = uuid::Uuid::now_v7();
    let problem = match fire.inputs {
        Ok(inputs) => {
            request.inputs = inputs
                .into_iter()
                .map(|(name, value)| (name, RawInput::Json(value)))
                .collect();
            match build_execution(state, flow, id, request.clone()) {
                Ok(built) => return Ok(built),
                Err(Error::Inputs(message)) => {
                    format!("trigger '{}': {message}", fire.trigger_id)
                }
                Err(other) => return Err(other),
            }
        }
        Err(message) => message,
    };
    let (mut row, mut execution) = new_execution(flow, id, &request);
    let now = chrono::Utc::now();
    execution.set_state(State::Failed, now);
    execution.error = Some(problem);
    super::write_document(&mut row, &execution)?;
    Ok((row, execution))
}
