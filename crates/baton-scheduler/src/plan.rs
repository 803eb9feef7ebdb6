//! What a due trigger does now: fire a date, skip dates, or wait. Pure, so every policy is
//! checked without a clock or a database.
//!
//! A schedule is **behind** when its next fire date is more than `missed_after` in the past:
//! the schedulers were down, the trigger waited for a long execution (schedules do not
//! overlap), or the clock jumped forward. Then `recoverMissedSchedules` decides:
//! - `ALL` (Kestra's default): every date fires, oldest first;
//! - `LAST`: only the most recent due date fires;
//! - `NONE`: none of the due dates fires; the schedule resumes with the next future date.
//!
//! A date less than `missed_after` late is not missed, only late, and fires whatever the policy
//! (a scheduler restarted within seconds loses nothing). `lateMaximumDelay` then skips any date
//! later than it allows.

use baton_core::flow::trigger::RecoverMissedSchedules;
use baton_core::schedule::CronSchedule;
use chrono::{DateTime, TimeDelta, Utc};

/// How a trigger treats late dates.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub recover: RecoverMissedSchedules,
    pub late_maximum_delay: Option<TimeDelta>,
    pub missed_after: TimeDelta,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing is due before this date.
    Wait(DateTime<Utc>),
    /// Create the execution of `date`; the schedule goes on at `next`.
    Fire {
        date: DateTime<Utc>,
        next: Option<DateTime<Utc>>,
    },
    /// Move the schedule to `next` without creating anything (missed or too late dates).
    Skip { next: Option<DateTime<Utc>> },
    /// The schedule has no date left.
    Done,
}

pub fn decide(
    schedule: &CronSchedule,
    next_fire_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Decision {
    let Some(due) = next_fire_at else {
        return Decision::Done;
    };
    if due > now {
        return Decision::Wait(due);
    }
    let mut date = Some(due);
    if due < now - policy.missed_after {
        date = match policy.recover {
            RecoverMissedSchedules::All => Some(due),
            RecoverMissedSchedules::Last => schedule.previous_at_or_before(now).max(Some(due)),
            RecoverMissedSchedules::None => schedule.next_after(now),
        };
    }
    if let (Some(late), Some(at)) = (policy.late_maximum_delay, date)
        && now - at > late
    {
        date = schedule.next_from(now - late);
    }
    match date {
        Some(date) if date == due => Decision::Fire {
            date,
            next: schedule.next_after(date),
        },
        next => Decision::Skip { next },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn hourly() -> CronSchedule {
        CronSchedule::new("0 * * * *", false, None).unwrap()
    }

    fn policy(recover: RecoverMissedSchedules) -> Policy {
        Policy {
            recover,
            late_maximum_delay: None,
            missed_after: TimeDelta::seconds(60),
        }
    }

    #[test]
    fn a_future_date_waits_and_a_due_one_fires_with_its_successor() {
        let p = policy(RecoverMissedSchedules::All);
        let nine = at("2021-01-01T09:00:00Z");
        assert_eq!(
            decide(&hourly(), Some(nine), at("2021-01-01T08:59:59Z"), &p),
            Decision::Wait(nine)
        );
        assert_eq!(
            decide(&hourly(), Some(nine), nine, &p),
            Decision::Fire {
                date: nine,
                next: Some(at("2021-01-01T10:00:00Z"))
            }
        );
        assert_eq!(decide(&hourly(), None, nine, &p), Decision::Done);
    }

    #[test]
    fn a_late_date_within_the_grace_fires_whatever_the_policy() {
        let nine = at("2021-01-01T09:00:00Z");
        for recover in [
            RecoverMissedSchedules::All,
            RecoverMissedSchedules::Last,
            RecoverMissedSchedules::None,
        ] {
            assert_eq!(
                decide(
                    &hourly(),
                    Some(nine),
                    at("2021-01-01T09:00:30Z"),
                    &policy(recover)
                ),
                Decision::Fire {
                    date: nine,
                    next: Some(at("2021-01-01T10:00:00Z"))
                },
                "{recover:?}"
            );
        }
    }

    #[test]
    fn missed_dates_follow_recover_missed_schedules() {
        // Down from 09:00 to 12:30: 09:00, 10:00, 11:00 and 12:00 were missed.
        let due = Some(at("2021-01-01T09:00:00Z"));
        let now = at("2021-01-01T12:30:00Z");
        assert_eq!(
            decide(&hourly(), due, now, &policy(RecoverMissedSchedules::All)),
            Decision::Fire {
                date: at("2021-01-01T09:00:00Z"),
                next: Some(at("2021-01-01T10:00:00Z"))
            }
        );
        let last = decide(&hourly(), due, now, &policy(RecoverMissedSchedules::Last));
        assert_eq!(
            last,
            Decision::Skip {
                next: Some(at("2021-01-01T12:00:00Z"))
            }
        );
        // Then 12:00 is the most recent due date: it fires.
        assert_eq!(
            decide(
                &hourly(),
                Some(at("2021-01-01T12:00:00Z")),
                now,
                &policy(RecoverMissedSchedules::Last)
            ),
            Decision::Fire {
                date: at("2021-01-01T12:00:00Z"),
                next: Some(at("2021-01-01T13:00:00Z"))
            }
        );
        assert_eq!(
            decide(&hourly(), due, now, &policy(RecoverMissedSchedules::None)),
            Decision::Skip {
                next: Some(at("2021-01-01T13:00:00Z"))
            }
        );
    }

    #[test]
    fn late_maximum_delay_skips_dates_later_than_it_allows() {
        let mut p = policy(RecoverMissedSchedules::All);
        p.late_maximum_delay = Some(TimeDelta::minutes(90));
        let due = Some(at("2021-01-01T09:00:00Z"));
        // At 12:30, 11:00 is the oldest date no more than 90 minutes late.
        assert_eq!(
            decide(&hourly(), due, at("2021-01-01T12:30:00Z"), &p),
            Decision::Skip {
                next: Some(at("2021-01-01T11:00:00Z"))
            }
        );
        assert_eq!(
            decide(
                &hourly(),
                Some(at("2021-01-01T11:00:00Z")),
                at("2021-01-01T12:30:00Z"),
                &p
            ),
            Decision::Fire {
                date: at("2021-01-01T11:00:00Z"),
                next: Some(at("2021-01-01T12:00:00Z"))
            }
        );
        // A short delay skips even a date inside the grace.
        p.late_maximum_delay = Some(TimeDelta::seconds(5));
        assert_eq!(
            decide(&hourly(), due, at("2021-01-01T09:00:30Z"), &p),
            Decision::Skip {
                next: Some(at("2021-01-01T10:00:00Z"))
            }
        );
    }
}
