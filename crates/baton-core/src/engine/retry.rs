//! When a failed attempt is tried again, and after how long.

use chrono::{DateTime, TimeDelta, Utc};

use crate::execution::TaskRun;
use crate::flow::Retry;
use crate::flow::task::RetryKind;

/// The time of the next attempt of `run` under `policy`, or `None` when the policy is spent
/// (`maxAttempt` attempts made, or `maxDuration` elapsed since the first attempt).
pub fn next_attempt_at(policy: &Retry, run: &TaskRun, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let made = run.attempt();
    if policy.max_attempt.is_some_and(|max| made >= max) {
        return None;
    }
    let first = run.attempts.first().map_or(now, |a| a.created_at);
    let delay = delay(policy, made, &run.id);
    let at = now.checked_add_signed(delay)?;
    if let Some(max) = policy.max_duration.and_then(|d| d.to_chrono())
        && at.signed_duration_since(first) > max
    {
        return None;
    }
    Some(at)
}

/// The wait before attempt `made + 1`.
fn delay(policy: &Retry, made: u32, seed: &str) -> TimeDelta {
    let millis = |d: Option<crate::duration::IsoDuration>| {
        d.and_then(|d| d.to_chrono())
            .map_or(0, |d| d.num_milliseconds().max(0))
    };
    let ms = match policy.kind {
        RetryKind::Constant => millis(policy.interval),
        RetryKind::Exponential => {
            let base = millis(policy.interval) as f64;
            let factor = policy.delay_factor.unwrap_or(2.0).max(1.0);
            let grown = base * factor.powi(made.saturating_sub(1).min(60) as i32);
            let cap = millis(policy.max_interval);
            if cap > 0 {
                grown.min(cap as f64) as i64
            } else {
                grown as i64
            }
        }
        RetryKind::Random => {
            // Jitter without randomness in the core: a hash of the task run and attempt spreads
            // retries the same way on every replay of the step.
            let (min, max) = (millis(policy.min_interval), millis(policy.max_interval));
            let spread = (max - min).max(0) as u64;
            let hash = seed
                .bytes()
                .chain(made.to_le_bytes())
                .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                });
            min + if spread == 0 {
                0
            } else {
                (hash % (spread + 1)) as i64
            }
        }
    };
    TimeDelta::milliseconds(ms)
}
