//! The heap of next fire dates. Re-arming a target makes its earlier entries stale (a
//! generation number, checked when popped), so arming is O(log n) and nothing is searched.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use baton_store::TriggerKey;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What fires: a trigger's schedule, or a backfill.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    Trigger(Arc<TriggerKey>),
    Backfill(Uuid),
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: DateTime<Utc>,
    generation: u64,
    target: TargetOrd,
}

/// Targets in the heap only need a consistent order among equal dates.
#[derive(Debug, PartialEq, Eq)]
struct TargetOrd(Target);

impl PartialOrd for TargetOrd {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TargetOrd {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        // The generation, unique per entry, already orders entries with one date.
        std::cmp::Ordering::Equal
    }
}

#[derive(Debug, Default)]
pub(crate) struct Timer {
    heap: BinaryHeap<Reverse<Entry>>,
    /// The live generation of each armed target.
    armed: HashMap<Target, u64>,
    generations: u64,
}

impl Timer {
    /// Fires `target` at `at`, replacing any earlier arming.
    pub(crate) fn arm(&mut self, target: Target, at: DateTime<Utc>) {
        self.generations += 1;
        let generation = self.generations;
        self.armed.insert(target.clone(), generation);
        self.heap.push(Reverse(Entry {
            at,
            generation,
            target: TargetOrd(target),
        }));
    }

    pub(crate) fn disarm(&mut self, target: &Target) {
        self.armed.remove(target);
    }

    /// The earliest live date.
    pub(crate) fn next(&mut self) -> Option<DateTime<Utc>> {
        while let Some(Reverse(top)) = self.heap.peek() {
            if self.armed.get(&top.target.0) == Some(&top.generation) {
                return Some(top.at);
            }
            self.heap.pop();
        }
        None
    }

    /// A live target due at `now` or before, disarmed.
    pub(crate) fn pop_due(&mut self, now: DateTime<Utc>) -> Option<Target> {
        while self.next().is_some_and(|at| at <= now) {
            let Reverse(entry) = self.heap.pop()?;
            let target = entry.target.0;
            if self.armed.get(&target) == Some(&entry.generation) {
                self.armed.remove(&target);
                return Some(target);
            }
        }
        None
    }

    pub(crate) fn len(&self) -> usize {
        self.armed.len()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn trigger(id: &str) -> Target {
        Target::Trigger(Arc::new(TriggerKey::new("ns", "flow", id)))
    }

    #[test]
    fn due_targets_come_out_in_date_order_and_rearming_replaces() {
        let now = Utc::now();
        let mut timer = Timer::default();
        timer.arm(trigger("late"), now + TimeDelta::seconds(30));
        timer.arm(trigger("soon"), now + TimeDelta::seconds(10));
        timer.arm(trigger("moved"), now + TimeDelta::seconds(5));
        timer.arm(trigger("moved"), now + TimeDelta::seconds(20));
        timer.arm(trigger("gone"), now + TimeDelta::seconds(1));
        timer.disarm(&trigger("gone"));
        assert_eq!(timer.len(), 3);
        assert_eq!(timer.next(), Some(now + TimeDelta::seconds(10)));
        assert_eq!(timer.pop_due(now), None);
        let at = now + TimeDelta::seconds(25);
        assert_eq!(timer.pop_due(at), Some(trigger("soon")));
        assert_eq!(timer.pop_due(at), Some(trigger("moved")));
        assert_eq!(timer.pop_due(at), None);
        assert_eq!(timer.next(), Some(now + TimeDelta::seconds(30)));
        assert_eq!(timer.len(), 1);
    }
}
