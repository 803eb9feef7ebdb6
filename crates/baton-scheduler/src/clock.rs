//! The scheduler's clock: the system's in production, a hand-moved one in tests (so no test
//! sleeps until 09:00 on the first of the month).

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

#[async_trait]
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Returns at `at`, or earlier: callers read [`Clock::now`] again and sleep on if needed.
    async fn sleep_until(&self, at: DateTime<Utc>);
}

/// The system clock. Sleeps are tokio timers (monotonic time), so a sleep never lasts longer
/// than `max_sleep`: the wall clock is read again at least that often, and a jump (a VM
/// resumed, NTP stepping the time) is noticed within it.
#[derive(Debug, Clone)]
pub struct SystemClock {
    pub max_sleep: Duration,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            max_sleep: Duration::from_secs(10),
        }
    }
}

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let Ok(left) = (at - Utc::now()).to_std() else {
            return;
        };
        if left > self.max_sleep {
            tokio::time::sleep(self.max_sleep).await;
            return;
        }
        // Tokio's timers tick in milliseconds and round up, so a fire would start up to a
        // millisecond or two late: sleep on them to just before `at`, then the rest on a
        // thread, which the system wakes within tens of microseconds.
        if let Some(coarse) = left.checked_sub(FINE_SLEEP) {
            tokio::time::sleep(coarse).await;
        }
        let Ok(rest) = (at - Utc::now()).to_std() else {
            return;
        };
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest.min(FINE_SLEEP))).await;
    }
}

/// The end of a system clock sleep spent on a thread rather than a tokio timer.
const FINE_SLEEP: Duration = Duration::from_millis(2);

/// A clock that moves only when told, for tests: sleepers wake when it is set past their time.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    moved: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
            moved: watch::Sender::new(start),
        }
    }

    /// Moves the clock to `at`, backwards too (a clock jump).
    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = at;
        self.moved.send_replace(at);
    }

    pub fn advance(&self, by: TimeDelta) {
        let at = self.now() + by;
        self.set(at);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let mut moved = self.moved.subscribe();
        // Returns when the clock reaches `at`; the sender lives as long as `self`.
        let _ = moved.wait_for(|now| *now >= at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_it_passes_their_time() {
        let start = Utc::now();
        let clock = std::sync::Arc::new(ManualClock::new(start));
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(start + TimeDelta::hours(1)).await }
        });
        clock.advance(TimeDelta::minutes(59));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished(), "woken before its time");
        clock.advance(TimeDelta::minutes(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woken once the clock passed its time")
            .unwrap();
    }

    #[tokio::test]
    async fn the_system_clock_returns_at_once_for_past_times() {
        let clock = SystemClock::default();
        tokio::time::timeout(
            Duration::from_secs(1),
            clock.sleep_until(Utc::now() - TimeDelta::hours(1)),
        )
        .await
        .expect("no wait for a past time");
    }
}
