//! Fire dates of a Schedule trigger: its cron expression read in its time zone.
//!
//! Dates go in and out as UTC instants; the zone only decides which instants match.
//!
//! Daylight saving time follows croner's rules (the Open Cron Pattern Specification, as
//! Vixie cron does), which Baton documents as its own:
//! - **Spring forward.** A fixed time of day that falls in the gap (`30 2 * * *` in
//!   Europe/Paris on the last Sunday of March) fires once, at the first instant after the gap
//!   (03:00 CEST). Patterns with a wildcard or step in their seconds, minutes or hours
//!   (`*/15 * * * *`) fire at the wall-clock times that exist; those in the gap are skipped.
//! - **Fall back.** A fixed time of day that happens twice fires once, at its first
//!   occurrence. Wildcard and step patterns follow real time, so `0 * * * *` fires at both
//!   01:00 (CEST, then CET): every real hour once.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde_json::{Value, json};

/// A parsed cron expression and the zone it is read in.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    cron: Cron,
    zone: Tz,
}

impl CronSchedule {
    /// `timezone` is an IANA name; UTC when absent (Kestra uses the server's zone; Baton's
    /// servers run in UTC, so a flow means the same thing on every host).
    pub fn new(
        expression: &str,
        with_seconds: bool,
        timezone: Option<&str>,
    ) -> Result<Self, String> {
        let cron = crate::cron::parse(expression, with_seconds)?;
        let zone = match timezone {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                format!("unknown time zone '{name}' (expected an IANA name such as Europe/Paris)")
            })?,
        };
        Ok(Self { cron, zone })
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first fire date strictly after `at`.
    pub fn next_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // croner works in whole seconds: step off the second `at` falls in.
        let second = at.trunc_subsecs(0);
        self.cron
            .find_next_occurrence(&second.with_timezone(&self.zone), false)
            .ok()
            .map(|next| next.with_timezone(&Utc))
    }

    /// The first fire date at or after `at`.
    pub fn next_from(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let second = at.trunc_subsecs(0);
        let inclusive = second == at;
        self.cron
            .find_next_occurrence(&second.with_timezone(&self.zone), inclusive)
            .ok()
            .map(|next| next.with_timezone(&Utc))
    }

    /// The last fire date strictly before `at`.
    pub fn previous_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let second = at.trunc_subsecs(0);
        let inclusive = second != at;
        self.cron
            .find_previous_occurrence(&second.with_timezone(&self.zone), inclusive)
            .ok()
            .map(|previous| previous.with_timezone(&Utc))
    }

    /// The last fire date at or before `at`.
    pub fn previous_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&at.trunc_subsecs(0).with_timezone(&self.zone), true)
            .ok()
            .map(|previous| previous.with_timezone(&Utc))
    }

    /// RFC 3339 with the zone's offset at that instant (`2021-01-01T09:00:00+01:00`, `Z` for
    /// UTC), as Kestra prints a schedule's dates.
    pub fn format(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.zone)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// The `trigger.*` variables of an execution fired for `date`: `date`, `next` and
    /// `previous` (the neighbouring fire dates of the expression, whether or not they ran).
    pub fn variables(&self, date: DateTime<Utc>) -> Value {
        let mut variables = json!({ "date": self.format(date) });
        if let Some(next) = self.next_after(date) {
            variables["next"] = json!(self.format(next));
        }
        if let Some(previous) = self.previous_before(date) {
            variables["previous"] = json!(self.format(previous));
        }
        variables
    }

    /// The fire dates in `[start, end]`, oldest first; `Err(limit)` when there are more than
    /// `limit` of them (a backfill that large is more likely a mistake than a wish).
    pub fn dates_between(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DateTime<Utc>>, usize> {
        let mut dates = Vec::new();
        let mut cursor = self.next_from(start);
        while let Some(date) = cursor.filter(|date| *date <= end) {
            if dates.len() == limit {
                return Err(limit);
            }
            dates.push(date);
            cursor = self.next_after(date);
        }
        Ok(dates)
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
