//! Firing the triggers due at one date together. Their executions are built ahead of the date
//! ([`crate::SchedulerOptions::prepare_ahead`]); at the date one store call
//! ([`baton_store::TriggerStore::fire_schedules`], on Postgres one statement and one commit)
//! records every fire key, inserts the executions and their first messages, and moves the rows
//! on. What that call did not fire goes the careful way, one at a time ([`fire_alone`]): the
//! unique fire key and the row checks stay the same on both paths.

use std::collections::HashMap;
use std::sync::Arc;

use baton_core::execution::Execution;
use baton_store::{FireRecord, ScheduledFire, TriggerKey, TriggerState};
use chrono::{DateTime, TimeDelta, Utc};
use tokio::task::JoinSet;

use crate::Error;
use crate::fire::{Armed, Prepared, TriggerOutcome, fire_alone, policy, prepare};
use crate::plan::{self, Decision};
use crate::runtime::Context;

/// What became of each trigger of a batch.
pub(crate) type BatchOutcome = Vec<(Arc<TriggerKey>, Result<TriggerOutcome, Error>)>;

/// A trigger that fires on its own, with the execution built ahead of its date if any.
type Alone = (Armed, Option<Prepared>);

/// A date to fire together: the trigger, the execution as the executor built it (kept for the
/// dates the store then refuses) and the fire itself.
type Together = (Armed, (Execution, ScheduledFire));

/// Fires `batch`, triggers armed for one date `due`.
pub(crate) async fn fire_batch(
    ctx: Arc<Context>,
    due: Option<DateTime<Utc>>,
    batch: Vec<Armed>,
) -> BatchOutcome {
    let mut outcomes = Vec::with_capacity(batch.len());
    let ahead = due.filter(|due| *due > ctx.clock.now());
    let pending = match ahead {
        Some(due) => prepare_ahead(&ctx, due, batch, &mut outcomes).await,
        None => batch.into_iter().map(|armed| (armed, None)).collect(),
    };
    // Fires are staged a little ahead of their date and committed at it (see
    // `TriggerStore::fire_schedules_at`), so they are decided as of the date.
    let as_of = match ahead {
        Some(due) => {
            wait_until(&ctx, due - STAGE_AHEAD).await;
            due.max(ctx.clock.now())
        }
        None => ctx.clock.now(),
    };
    let (together, mut alone) = sort_out(&ctx, pending, as_of, &mut outcomes).await;
    let (armed, (executions, fires)): (Vec<_>, (Vec<_>, Vec<_>)) = together.into_iter().unzip();
    let fired = fire_together(&ctx, &fires, as_of).await;
    // What goes alone fires at the date too, never before.
    wait_until(&ctx, as_of).await;
    for ((armed, execution), fire) in armed.into_iter().zip(executions).zip(fires) {
        match fired.get(&*armed.key) {
            Some(row) => {
                ctx.report(FireRecord {
                    key: (*armed.key).clone(),
                    fire_date: fire.fire_date,
                    backfill_id: None,
                    execution_id: fire.execution.id,
                });
                outcomes.push((armed.key.clone(), Ok(TriggerOutcome::Updated(row.clone()))));
            }
            None => {
                let prepared = Prepared {
                    date: fire.fire_date,
                    row: fire.execution,
                    execution,
                    messages: fire.messages,
                };
                alone.push((armed, Some(prepared)));
            }
        }
    }
    outcomes.extend(fire_each(ctx, alone).await);
    outcomes
}

/// Builds the executions of `batch` ahead of `due`, dated at it, all at once (flow reads
/// overlap): off the critical path, as long as they take less than `prepare_ahead`.
async fn prepare_ahead(
    ctx: &Arc<Context>,
    due: DateTime<Utc>,
    batch: Vec<Armed>,
    outcomes: &mut BatchOutcome,
) -> Vec<Alone> {
    let mut tasks = JoinSet::new();
    let mut keys = HashMap::with_capacity(batch.len());
    let store = ctx.store.clone();
    tokio::spawn(async move {
        if let Err(error) = store.prepare_fire_schedules().await {
            // The fires themselves will open the connection again, or go one at a time.
            tracing::debug!(%error, "readying the fires failed");
        }
    });
    for armed in batch {
        let ctx = ctx.clone();
        let key = armed.key.clone();
        let task = tasks.spawn(async move {
            let prepared = prepare(&ctx, &armed, due, None).await;
            (armed, prepared)
        });
        keys.insert(task.id(), key);
    }
    let mut pending = Vec::with_capacity(tasks.len());
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((armed, Ok(mut prepared))) => {
                prepared.created_at(due);
                pending.push((armed, Some(prepared)));
            }
            Ok((armed, Err(error))) => outcomes.push((armed.key, Err(error))),
            Err(error) => {
                if let Some(key) = keys.remove(&error.id()) {
                    outcomes.push((key, Err(Error::Task(error.to_string()))));
                }
            }
        }
    }
    pending
}

/// How long before their date the fires of a batch are written (in a transaction that commits
/// at the date): more than the statement takes, so at the date only the commit is left.
const STAGE_AHEAD: TimeDelta = TimeDelta::milliseconds(25);

async fn wait_until(ctx: &Context, at: DateTime<Utc>) {
    while ctx.clock.now() < at {
        ctx.clock.sleep_until(at).await;
    }
}

/// The rows of the dates the store fired, committed at `date`, by trigger; none when the call
/// failed (each date is then tried on its own).
async fn fire_together(
    ctx: &Context,
    fires: &[ScheduledFire],
    date: DateTime<Utc>,
) -> HashMap<TriggerKey, TriggerState> {
    if fires.is_empty() {
        return HashMap::new();
    }
    match ctx
        .store
        .fire_schedules_at(fires, Box::pin(wait_until(ctx, date)))
        .await
    {
        Ok(rows) => rows.into_iter().map(|row| (row.key.clone(), row)).collect(),
        Err(error) => {
            tracing::warn!(%error, fires = fires.len(), "firing together failed; firing one at a time");
            HashMap::new()
        }
    }
}

/// Splits the batch, as of its date `now`, into the dates that may fire together and the triggers
/// that go alone: those with `stopAfter` (their release is checked against how the last
/// execution ended) and those not plainly due (missed, too late, clock moved back).
async fn sort_out(
    ctx: &Context,
    pending: Vec<Alone>,
    now: DateTime<Utc>,
    outcomes: &mut BatchOutcome,
) -> (Vec<Together>, Vec<Alone>) {
    let mut together = Vec::with_capacity(pending.len());
    let mut alone = Vec::new();
    for (armed, early) in pending {
        if !armed.definition.stop_after.is_empty() {
            alone.push((armed, early));
            continue;
        }
        let policy = policy(ctx, &armed.definition);
        let Decision::Fire { date, next } =
            plan::decide(&armed.schedule, armed.state.next_fire_at, now, &policy)
        else {
            alone.push((armed, early));
            continue;
        };
        let prepared = match early.filter(|early| early.date == date) {
            Some(early) => early,
            None => match prepare(ctx, &armed, date, None).await {
                Ok(mut prepared) => {
                    prepared.created_at(now);
                    prepared
                }
                Err(error) => {
                    outcomes.push((armed.key.clone(), Err(error)));
                    continue;
                }
            },
        };
        let fire = ScheduledFire {
            armed: armed.state.clone(),
            fire_date: date,
            next_fire_at: next,
            execution: prepared.row,
            messages: prepared.messages,
        };
        together.push((armed, (prepared.execution, fire)));
    }
    (together, alone)
}

/// Fires each trigger on its own, all at once: one waiting for a row another scheduler holds
/// does not hold up the others.
async fn fire_each(ctx: Arc<Context>, alone: Vec<Alone>) -> BatchOutcome {
    let mut tasks = JoinSet::new();
    let mut keys = HashMap::with_capacity(alone.len());
    for (armed, early) in alone {
        let ctx = ctx.clone();
        let key = armed.key.clone();
        let task = tasks.spawn(async move {
            let result = fire_alone(&ctx, &armed, early).await;
            (armed.key, result)
        });
        keys.insert(task.id(), key);
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(outcome) => outcomes.push(outcome),
            // A fire that panicked is tried again later, as one that failed.
            Err(error) => {
                if let Some(key) = keys.remove(&error.id()) {
                    outcomes.push((key, Err(Error::Task(error.to_string()))));
                }
            }
        }
    }
    outcomes
}
