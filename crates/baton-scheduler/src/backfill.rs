//! Backfills: executions for the past fire dates of a trigger, created one at a time, in order,
//! each once the previous one has ended (Kestra's rule: schedules do not overlap, backfills
//! included). They are ordinary executions labelled `backfill: true`, so a flow's concurrency
//! limit applies to them like to any other.

use std::collections::BTreeMap;

use baton_store::{
    Backfill, BackfillState, BackfillTx, FireRecord, NewBackfill, Store, TriggerKey,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::Error;
use crate::definition::ScheduleDefinition;
use crate::fire::{Armed, prepare};
use crate::runtime::Context;

/// The most fire dates one backfill may cover: larger ranges are more likely a mistake (a
/// per-second cron over a year) than a wish, and are refused.
pub const MAX_BACKFILL_DATES: usize = 100_000;

/// What a user asks for.
#[derive(Clone, Debug, Default)]
pub struct BackfillRequest {
    pub start: Option<DateTime<Utc>>,
    /// Now when absent.
    pub end: Option<DateTime<Utc>>,
    /// Override the trigger's inputs.
    pub inputs: serde_json::Map<String, Value>,
    /// Added to the trigger's labels (with `backfill: true`).
    pub labels: BTreeMap<String, String>,
}

/// Starts a backfill of the trigger's fire dates in `[start, end]`.
pub async fn start(
    store: &dyn Store,
    key: &TriggerKey,
    request: BackfillRequest,
    now: DateTime<Utc>,
) -> Result<Backfill, Error> {
    let trigger = store.get_trigger(key).await?;
    let definition: ScheduleDefinition =
        serde_json::from_value(trigger.definition).map_err(|e| Error::Definition {
            trigger: key.to_string(),
            reason: e.to_string(),
        })?;
    let schedule = definition.schedule().map_err(|reason| Error::Definition {
        trigger: key.to_string(),
        reason,
    })?;
    let start = request
        .start
        .ok_or_else(|| Error::Invalid("a backfill needs a start date".to_owned()))?;
    let end = request.end.unwrap_or(now);
    if end < start {
        return Err(Error::Invalid(format!(
            "the backfill ends ({end}) before it starts ({start})"
        )));
    }
    let dates = schedule
        .dates_between(start, end, MAX_BACKFILL_DATES)
        .map_err(|limit| {
            Error::Invalid(format!(
                "the range holds more than {limit} fire dates of '{}'; backfill it in parts",
                definition.cron
            ))
        })?;
    let backfill = store
        .create_backfill(&NewBackfill {
            key: key.clone(),
            start,
            end,
            first_fire_at: dates.first().copied(),
            total: i32::try_from(dates.len()).unwrap_or(i32::MAX),
            inputs: request.inputs,
            labels: request.labels,
        })
        .await?;
    store.notify_schedulers().await?;
    Ok(backfill)
}

/// The trigger's running or paused backfill.
pub async fn active(store: &dyn Store, key: &TriggerKey) -> Result<Backfill, Error> {
    store
        .list_backfills(Some(key), true)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Invalid(format!("trigger {key} has no running or paused backfill")))
}

/// Pauses, resumes or cancels the trigger's active backfill.
pub async fn change(
    store: &dyn Store,
    key: &TriggerKey,
    to: BackfillState,
) -> Result<Backfill, Error> {
    let backfill = active(store, key).await?;
    let from: &[BackfillState] = match to {
        BackfillState::Paused => &[BackfillState::Running],
        BackfillState::Running => &[BackfillState::Paused],
        _ => &[BackfillState::Running, BackfillState::Paused],
    };
    let changed = store.set_backfill_state(backfill.id, from, to).await?;
    store.notify_schedulers().await?;
    Ok(changed)
}

#[derive(Debug)]
pub(crate) enum BackfillOutcome {
    Updated(Backfill),
    Gone,
}

/// Creates the backfill's next execution, if its last one has ended.
pub(crate) async fn fire_backfill(
    ctx: &Context,
    backfill: &Backfill,
    trigger: &Armed,
) -> Result<BackfillOutcome, Error> {
    let Some(date) = backfill
        .next_fire_at
        .filter(|_| backfill.state == BackfillState::Running)
    else {
        return Ok(BackfillOutcome::Updated(backfill.clone()));
    };
    let next = trigger
        .schedule
        .next_after(date)
        .filter(|next| *next <= backfill.end);
    let mut prepared = prepare(ctx, trigger, date, Some(backfill)).await?;
    prepared.created_at(ctx.clock.now());
    let Some(mut tx) = lock(ctx, backfill.id).await? else {
        tokio::time::sleep(ctx.options.busy_retry).await;
        return read(ctx, backfill.id).await;
    };
    let current = tx.backfill().clone();
    if current.state != BackfillState::Running
        || current.next_fire_at != Some(date)
        || current.is_waiting()
    {
        return Ok(BackfillOutcome::Updated(current));
    }
    let fire = FireRecord {
        key: current.key.clone(),
        fire_date: date,
        backfill_id: Some(current.id),
        execution_id: prepared.row.id,
    };
    let mut moved = current.clone();
    moved.next_fire_at = next;
    if next.is_none() {
        moved.state = BackfillState::Done;
    }
    match tx.record_fire(&fire).await {
        Err(baton_store::Error::DuplicateFire { .. }) => {
            // Cannot happen while the row is locked and matched; moving on is the safe answer.
            drop(tx);
            let Some(mut tx) = ctx.store.lock_backfill(current.id, false).await? else {
                return read(ctx, current.id).await;
            };
            if tx.backfill().next_fire_at == Some(date) {
                tx.update(&moved).await?;
                tx.commit().await?;
            }
            return read(ctx, current.id).await;
        }
        other => other?,
    }
    tx.executions().insert_execution(&prepared.row).await?;
    tx.executions().enqueue(&prepared.messages).await?;
    moved.created += 1;
    moved.execution_id = Some(prepared.row.id);
    moved.execution_state = Some(prepared.row.state);
    tx.update(&moved).await?;
    tx.commit().await?;
    ctx.report(fire);
    Ok(BackfillOutcome::Updated(moved))
}

async fn lock(ctx: &Context, id: Uuid) -> Result<Option<Box<dyn BackfillTx>>, Error> {
    match ctx.store.lock_backfill(id, true).await {
        Ok(tx) => Ok(tx),
        Err(baton_store::Error::BackfillNotFound(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

async fn read(ctx: &Context, id: Uuid) -> Result<BackfillOutcome, Error> {
    match ctx.store.get_backfill(id).await {
        Ok(backfill) => Ok(BackfillOutcome::Updated(backfill)),
        Err(baton_store::Error::BackfillNotFound(_)) => Ok(BackfillOutcome::Gone),
        Err(error) => Err(error.into()),
    }
}

/// The time zone the trigger's dates are read in.
pub async fn zone(store: &dyn Store, key: &TriggerKey) -> Result<chrono_tz::Tz, Error> {
    let trigger = store.get_trigger(key).await?;
    let definition: ScheduleDefinition =
        serde_json::from_value(trigger.definition).map_err(|e| Error::Definition {
            trigger: key.to_string(),
            reason: e.to_string(),
        })?;
    definition
        .schedule()
        .map(|schedule| schedule.zone())
        .map_err(|reason| Error::Definition {
            trigger: key.to_string(),
            reason,
        })
}

/// Reads a backfill bound: RFC 3339 (`2021-01-01T00:00:00Z`), or a local date-time or a date
/// read in the trigger's zone. A date alone is its first instant, or with `end_of_day` its last
/// second, so `--end 2021-07-31` includes the 31st.
pub fn parse_date(
    text: &str,
    zone: chrono_tz::Tz,
    end_of_day: bool,
) -> Result<DateTime<Utc>, Error> {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .ok()
        .or_else(|| {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            let time = if end_of_day {
                NaiveTime::from_hms_opt(23, 59, 59)?
            } else {
                NaiveTime::MIN
            };
            Some(date.and_time(time))
        })
        .ok_or_else(|| {
            Error::Invalid(format!(
                "cannot read '{text}' as a date: expected 2021-01-31, 2021-01-31T09:00:00 or 2021-01-31T09:00:00+01:00"
            ))
        })?;
    // The earlier instant of a repeated local time; a time in a spring-forward gap is read
    // an hour later, as the clock shows it.
    zone.from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(local + chrono::TimeDelta::hours(1)))
                .earliest()
        })
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| Error::Invalid(format!("'{text}' does not exist in {zone}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_read_in_the_trigger_zone() {
        let paris = chrono_tz::Europe::Paris;
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
        assert_eq!(
            parse_date("2021-01-01", paris, false).unwrap(),
            at("2021-01-01T00:00:00+01:00")
        );
        assert_eq!(
            parse_date("2021-07-31", paris, true).unwrap(),
            at("2021-07-31T23:59:59+02:00")
        );
        assert_eq!(
            parse_date("2021-03-01T09:00:00", paris, false).unwrap(),
            at("2021-03-01T09:00:00+01:00")
        );
        assert_eq!(
            parse_date("2021-03-01T09:00:00Z", paris, false).unwrap(),
            at("2021-03-01T09:00:00Z")
        );
        let bad = parse_date("March 1st", paris, false)
            .unwrap_err()
            .to_string();
        assert!(bad.contains("cannot read 'March 1st' as a date"), "{bad}");
    }
}
