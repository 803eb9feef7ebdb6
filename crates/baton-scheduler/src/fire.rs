//! Firing one trigger date on its own: build the execution, then lock the row, check it, and
//! commit the fire key, the execution, its first message and the row's next date together.
//! Dates due together fire in one statement first ([`crate::batch`]); this is the path for
//! the ones that need a closer look.

use std::sync::Arc;

use baton_core::execution::{Execution, State};
use baton_core::inputs::RawInput;
use baton_core::schedule::CronSchedule;
use baton_executor::executor::{NewExecution, StepMessage, prepare_execution, write_document};
use baton_store::{Backfill, FireRecord, NewMessage, TriggerKey, TriggerState, TriggerTx};
use chrono::{DateTime, TimeDelta, Utc};

use crate::definition::ScheduleDefinition;
use crate::plan::{self, Decision, Policy};
use crate::runtime::Context;
use crate::{Error, FireReport};

/// A trigger as armed in memory: its row and what its definition parses to.
#[derive(Clone, Debug)]
pub(crate) struct Armed {
    pub(crate) key: Arc<TriggerKey>,
    pub(crate) state: TriggerState,
    pub(crate) definition: Arc<ScheduleDefinition>,
    pub(crate) schedule: Arc<CronSchedule>,
}

impl Armed {
    /// Reads a row, reusing `previous`'s parsed definition when the row's did not change.
    pub(crate) fn from_state(
        key: Arc<TriggerKey>,
        state: TriggerState,
        previous: Option<&Armed>,
    ) -> Result<Self, Error> {
        if let Some(previous) = previous.filter(|p| p.state.definition == state.definition) {
            return Ok(Self {
                key,
                state,
                definition: previous.definition.clone(),
                schedule: previous.schedule.clone(),
            });
        }
        let invalid = |reason: String| Error::Definition {
            trigger: key.to_string(),
            reason,
        };
        let definition: ScheduleDefinition =
            serde_json::from_value(state.definition.clone()).map_err(|e| invalid(e.to_string()))?;
        let schedule = definition.schedule().map_err(invalid)?;
        Ok(Self {
            key,
            state,
            definition: Arc::new(definition),
            schedule: Arc::new(schedule),
        })
    }
}

/// What a fire attempt leaves: the trigger's row as it now stands, or no row at all.
#[derive(Debug)]
pub(crate) enum TriggerOutcome {
    Updated(TriggerState),
    Gone,
}

/// What decides whether a late or missed date still fires.
pub(crate) fn policy(ctx: &Context, definition: &ScheduleDefinition) -> Policy {
    Policy {
        recover: definition.recover_missed_schedules,
        late_maximum_delay: definition.late_maximum_delay.and_then(|d| d.to_chrono()),
        missed_after: TimeDelta::from_std(ctx.options.missed_after).unwrap_or(TimeDelta::MAX),
    }
}

/// Fires the trigger's due date on its own, in a [`baton_store::TriggerTx`]: for the dates the
/// batch ([`crate::batch`]) did not fire, to learn why (another scheduler holds the row, it
/// changed, waits for its last execution, needs its `stopAfter` checked, or the date fired
/// already) and act on it. `early` is the execution built ahead of the date, if any.
pub(crate) async fn fire_alone(
    ctx: &Context,
    armed: &Armed,
    early: Option<Prepared>,
) -> Result<TriggerOutcome, Error> {
    let definition = &armed.definition;
    let now = ctx.clock.now();
    let policy = policy(ctx, definition);
    let (date, next) = match plan::decide(&armed.schedule, armed.state.next_fire_at, now, &policy) {
        // The clock went back since the trigger was armed: arm it again.
        Decision::Wait(_) | Decision::Done => {
            return Ok(TriggerOutcome::Updated(armed.state.clone()));
        }
        Decision::Skip { next } => return skip(ctx, armed, next).await,
        Decision::Fire { date, next } => (date, next),
    };
    let mut prepared = match early.filter(|early| early.date == date) {
        Some(early) => early,
        None => prepare(ctx, armed, date, None).await?,
    };
    prepared.created_at(now);
    let Some(mut tx) = lock(ctx, &armed.key).await? else {
        return busy(ctx, &armed.key).await;
    };
    let current = tx.state().clone();
    if !unchanged(&current, &armed.state) || current.is_waiting() {
        return Ok(TriggerOutcome::Updated(current));
    }
    let mut state = current.clone();
    if current.awaiting_execution {
        // The last execution has ended: release it, and stop if it ended as `stopAfter` says.
        state.awaiting_execution = false;
        if let Some(ended) = current.last_execution_state
            && definition.stops_after(ended)
        {
            state.disabled = true;
            tx.update(&state).await?;
            tx.commit().await?;
            tracing::info!(trigger = %armed.key, state = %ended, "stopAfter: the trigger disables itself");
            return Ok(TriggerOutcome::Updated(state));
        }
    }
    let fire = FireRecord {
        key: (*armed.key).clone(),
        fire_date: date,
        backfill_id: None,
        execution_id: prepared.row.id,
    };
    match tx.record_fire(&fire).await {
        Err(baton_store::Error::DuplicateFire { .. }) => {
            drop(tx);
            return step_over_fired_date(ctx, &armed.key, date, next).await;
        }
        other => other?,
    }
    tx.executions().insert_execution(&prepared.row).await?;
    tx.executions().enqueue(&prepared.messages).await?;
    state.next_fire_at = next;
    state.last_fire_at = Some(date);
    state.last_execution_id = Some(prepared.row.id);
    state.last_execution_state = Some(prepared.row.state);
    state.awaiting_execution = true;
    tx.update(&state).await?;
    tx.commit().await?;
    ctx.report(fire);
    Ok(TriggerOutcome::Updated(state))
}

/// The row still says what the scheduler armed: the same date, definition and enabled.
fn unchanged(current: &TriggerState, armed: &TriggerState) -> bool {
    current.next_fire_at == armed.next_fire_at
        && current.flow_revision == armed.flow_revision
        && current.definition == armed.definition
        && !current.disabled
}

async fn lock(ctx: &Context, key: &TriggerKey) -> Result<Option<Box<dyn TriggerTx>>, Error> {
    match ctx.store.lock_trigger(key, true).await {
        Ok(tx) => Ok(tx),
        Err(baton_store::Error::TriggerNotFound(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Another scheduler holds the row (or it is gone): read it again after a moment.
async fn busy(ctx: &Context, key: &TriggerKey) -> Result<TriggerOutcome, Error> {
    tokio::time::sleep(ctx.options.busy_retry).await;
    match ctx.store.get_trigger(key).await {
        Ok(state) => Ok(TriggerOutcome::Updated(state)),
        Err(baton_store::Error::TriggerNotFound(_)) => Ok(TriggerOutcome::Gone),
        Err(error) => Err(error.into()),
    }
}

/// Moves the schedule on without creating anything (missed or too late dates).
async fn skip(
    ctx: &Context,
    armed: &Armed,
    next: Option<DateTime<Utc>>,
) -> Result<TriggerOutcome, Error> {
    let Some(mut tx) = lock(ctx, &armed.key).await? else {
        return busy(ctx, &armed.key).await;
    };
    let mut state = tx.state().clone();
    if !unchanged(&state, &armed.state) {
        return Ok(TriggerOutcome::Updated(state));
    }
    tracing::info!(
        trigger = %armed.key,
        from = ?state.next_fire_at,
        to = ?next,
        "skipping missed or too late dates"
    );
    state.next_fire_at = next;
    tx.update(&state).await?;
    tx.commit().await?;
    Ok(TriggerOutcome::Updated(state))
}

/// The date fired already (the row was reset to a date that had fired): move past it.
async fn step_over_fired_date(
    ctx: &Context,
    key: &TriggerKey,
    date: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
) -> Result<TriggerOutcome, Error> {
    let Some(mut tx) = ctx.store.lock_trigger(key, false).await? else {
        return busy(ctx, key).await;
    };
    let mut state = tx.state().clone();
    if state.next_fire_at == Some(date) {
        state.next_fire_at = next;
        tx.update(&state).await?;
        tx.commit().await?;
    }
    Ok(TriggerOutcome::Updated(state))
}

/// An execution ready to insert, with the messages that start it.
pub(crate) struct Prepared {
    /// The fire date it was built for.
    pub(crate) date: DateTime<Utc>,
    pub(crate) row: baton_store::Execution,
    pub(crate) execution: Execution,
    pub(crate) messages: Vec<NewMessage>,
}

impl Prepared {
    /// Dates the execution's creation at `at` (it may have been built ahead of its date).
    pub(crate) fn created_at(&mut self, at: DateTime<Utc>) {
        if self.row.created_at >= at {
            return;
        }
        self.row.created_at = at;
        self.execution.created_at = at;
        for change in &mut self.execution.history {
            change.at = change.at.max(at);
        }
        self.execution.ended_at = self.execution.ended_at.map(|ended| ended.max(at));
        let _ = write_document(&mut self.row, &self.execution);
    }
}

/// Builds the execution of `date`: the trigger's inputs and labels (a backfill's override
/// them, and it adds `backfill: true`), `trigger.date`, `.next` and `.previous`. Inputs the
/// flow refuses give a FAILED execution saying why, so the schedule moves on (as Kestra does)
/// instead of retrying the date forever.
pub(crate) async fn prepare(
    ctx: &Context,
    armed: &Armed,
    date: DateTime<Utc>,
    backfill: Option<&Backfill>,
) -> Result<Prepared, Error> {
    let definition = &armed.definition;
    let mut inputs: indexmap::IndexMap<String, RawInput> = definition
        .inputs
        .iter()
        .map(|(k, v)| (k.clone(), RawInput::Json(v.clone())))
        .collect();
    let mut labels = definition.labels.clone();
    if let Some(backfill) = backfill {
        inputs.extend(
            backfill
                .inputs
                .iter()
                .map(|(k, v)| (k.clone(), RawInput::Json(v.clone()))),
        );
        labels.extend(backfill.labels.clone());
        labels.insert("backfill".to_owned(), "true".to_owned());
    }
    let trigger = armed.schedule.variables(date);
    let request = NewExecution {
        namespace: armed.key.namespace.clone(),
        flow_id: armed.key.flow_id.clone(),
        revision: Some(armed.state.flow_revision),
        inputs,
        labels: labels.clone(),
        trigger: Some(trigger.clone()),
    };
    match prepare_execution(&ctx.executor, uuid::Uuid::now_v7(), request).await {
        Ok((row, execution)) => Ok(Prepared {
            date,
            messages: vec![StepMessage::message(&execution.id, Vec::new())],
            row,
            execution,
        }),
        Err(baton_executor::executor::Error::Inputs(reason)) => {
            tracing::warn!(trigger = %armed.key, %date, %reason, "the flow refused the trigger's inputs");
            Ok(failed(armed, date, labels, trigger, reason))
        }
        Err(error) => Err(error.into()),
    }
}

/// A FAILED execution recording why the date could not run.
fn failed(
    armed: &Armed,
    date: DateTime<Utc>,
    labels: indexmap::IndexMap<String, String>,
    trigger: serde_json::Value,
    reason: String,
) -> Prepared {
    let key = &armed.key;
    let mut row = baton_store::Execution::new(
        &key.namespace,
        &key.flow_id,
        armed.state.flow_revision,
        serde_json::Value::Null,
    );
    let mut execution = Execution::new(
        row.id.to_string(),
        &key.namespace,
        &key.flow_id,
        armed.state.flow_revision,
        row.created_at,
    );
    execution.trigger = Some(trigger);
    execution.labels = labels;
    execution.error = Some(format!("trigger {}: {reason}", key.trigger_id));
    execution.set_state(State::Failed, row.created_at);
    // A document that does not serialize cannot happen for one built here.
    let _ = write_document(&mut row, &execution);
    Prepared {
        date,
        row,
        execution,
        messages: Vec::new(),
    }
}

impl Context {
    pub(crate) fn report(&self, fire: FireRecord) {
        if let Some(reports) = &self.reports {
            let _ = reports.send(FireReport {
                key: fire.key,
                date: fire.fire_date,
                backfill_id: fire.backfill_id,
                execution_id: fire.execution_id,
                committed_at: self.clock.now(),
            });
        }
    }
}
