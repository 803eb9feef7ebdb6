//! The time window of a Flow trigger's `preconditions`: conditions met by different upstream
//! executions add up within the window until all of them are met, as in Kestra 1.x.
//!
//! The executor keeps one [`PreconditionWindow`] per trigger in the store, locked in the
//! upstream step's transaction, so two executors recording at once cannot both fire.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, DurationRound, NaiveTime, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::flow::condition::{Preconditions, TimeWindow, TimeWindowType};

/// Which preconditions have been met in the current window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreconditionWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Keys of the conditions met so far (see [`condition_keys`]).
    pub met: BTreeSet<String>,
}

/// What recording an execution's results did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The window to store (`None`: nothing to keep).
    pub window: Option<PreconditionWindow>,
    /// Every condition is met: the trigger fires.
    pub fires: bool,
}

/// One key per condition: `flows[i]` for each upstream flow, `where[id]` for each filter group.
pub fn condition_keys(preconditions: &Preconditions) -> Vec<String> {
    let flows = (0..preconditions.flows.len()).map(|i| format!("flows[{i}]"));
    let filters = preconditions
        .filters
        .iter()
        .map(|group| format!("where[{}]", group.id));
    flows.chain(filters).collect()
}

/// Adds the conditions an upstream execution met (`met_now`) at `now` to the stored window,
/// starting a new window when there is none or it is over. A window that would already be over
/// when it starts (a daily window outside its hours) records nothing. When every condition is
/// met the trigger fires, and the window starts over unless `resetOnSuccess: false`.
pub fn record(
    preconditions: &Preconditions,
    stored: Option<PreconditionWindow>,
    met_now: &[String],
    now: DateTime<Utc>,
) -> Recorded {
    let current = stored.filter(|w| is_open(w, now));
    let mut window = match current {
        Some(window) => window,
        None => {
            let (start, end) = bounds(preconditions.time_window.as_ref(), now);
            let fresh = PreconditionWindow {
                start,
                end,
                met: BTreeSet::new(),
            };
            if !is_open(&fresh, now) {
                return Recorded {
                    window: None,
                    fires: false,
                };
            }
            fresh
        }
    };
    window.met.extend(met_now.iter().cloned());
    let fires = !met_now.is_empty()
        && condition_keys(preconditions)
            .iter()
            .all(|key| window.met.contains(key));
    let reset = fires && preconditions.reset_on_success != Some(false);
    Recorded {
        window: (!reset && !window.met.is_empty()).then_some(window),
        fires,
    }
}

fn is_open(window: &PreconditionWindow, now: DateTime<Utc>) -> bool {
    window.start <= now && now < window.end
}

/// Where the window that contains `now` starts and ends, the way Kestra computes it.
pub fn bounds(
    time_window: Option<&TimeWindow>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let day = Duration::days(1);
    let midnight = now.duration_trunc(day).unwrap_or(now);
    let at =
        |time: Option<NaiveTime>| midnight + time.map_or(TimeDelta::zero(), |t| t - NaiveTime::MIN);
    let window_type = time_window.map(|w| w.window_type).unwrap_or_default();
    let length = time_window
        .and_then(|w| w.window)
        .and_then(|d| d.to_chrono())
        .filter(|d| *d > TimeDelta::zero())
        .unwrap_or(day);
    match window_type {
        TimeWindowType::DurationWindow => {
            // Windows of whole days start at midnight, of whole hours at the hour, shorter ones
            // on a multiple of their length within the hour; `windowAdvance` shifts them.
            let start = if length >= day {
                midnight
            } else if length >= Duration::hours(1) {
                now.duration_trunc(Duration::hours(1)).unwrap_or(now)
            } else if length >= Duration::minutes(1) {
                let minutes = length.num_minutes();
                let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
                hour + Duration::minutes(minutes * (i64::from(now.minute()) / minutes))
            } else {
                now.duration_trunc(Duration::seconds(1)).unwrap_or(now)
            };
            let advance = time_window
                .and_then(|w| w.window_advance)
                .and_then(|d| d.to_chrono())
                .unwrap_or_default();
            let start = start + advance;
            (start, start + length)
        }
        TimeWindowType::SlidingWindow => (now, now + length),
        TimeWindowType::DailyTimeWindow => (
            at(time_window.and_then(|w| w.start_time)),
            at(time_window.and_then(|w| w.end_time)),
        ),
        TimeWindowType::DailyTimeDeadline => (midnight, at(time_window.and_then(|w| w.deadline))),
    }
}
