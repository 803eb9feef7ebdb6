//! What the API does to a trigger: disable, enable, run now.

use baton_core::inputs::RawInput;
use baton_executor::executor::{ExecutorState, NewExecution, create_execution};
use baton_store::{Store, TriggerKey, TriggerState};
use chrono::{DateTime, Utc};

use crate::Error;
use crate::definition::ScheduleDefinition;

fn definition(state: &TriggerState) -> Result<ScheduleDefinition, Error> {
    serde_json::from_value(state.definition.clone()).map_err(|e| Error::Definition {
        trigger: state.key.to_string(),
        reason: e.to_string(),
    })
}

/// Disables or enables the trigger. Enabling starts again from the next date after `now`: the
/// dates of the disabled period are not replayed (a backfill does that when wanted), whatever
/// `recoverMissedSchedules` says (kestra#6027, #14349).
pub async fn set_disabled(
    store: &dyn Store,
    key: &TriggerKey,
    disabled: bool,
    now: DateTime<Utc>,
) -> Result<TriggerState, Error> {
    let Some(mut tx) = store.lock_trigger(key, false).await? else {
        return Err(baton_store::Error::TriggerNotFound(key.to_string()).into());
    };
    let mut state = tx.state().clone();
    if state.disabled == disabled {
        return Ok(state);
    }
    state.disabled = disabled;
    if !disabled {
        let schedule = definition(&state)?
            .schedule()
            .map_err(|reason| Error::Definition {
                trigger: key.to_string(),
                reason,
            })?;
        state.next_fire_at = schedule.next_after(now);
        // An execution that ended as `stopAfter` said was dealt with when it disabled the
        // trigger; a running one is still waited for.
        state.awaiting_execution &= state.last_execution_state.is_some_and(|s| !s.is_terminal());
    }
    tx.update(&state).await?;
    tx.commit().await?;
    store.notify_schedulers().await?;
    Ok(state)
}

/// Creates an execution now with the trigger's inputs and labels, `trigger.date` being `now`.
/// It is not a fire date: the schedule is not moved and the next fire does not wait for it.
pub async fn run_now(
    executor: &ExecutorState,
    key: &TriggerKey,
    now: DateTime<Utc>,
) -> Result<baton_core::execution::Execution, Error> {
    let state = executor.store.get_trigger(key).await?;
    let definition = definition(&state)?;
    let schedule = definition.schedule().map_err(|reason| Error::Definition {
        trigger: key.to_string(),
        reason,
    })?;
    let request = NewExecution {
        namespace: key.namespace.clone(),
        flow_id: key.flow_id.clone(),
        revision: None,
        inputs: definition
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), RawInput::Json(v.clone())))
            .collect(),
        labels: definition.labels.clone(),
        trigger: Some(schedule.variables(now)),
    };
    Ok(create_execution(executor, request).await?)
}
