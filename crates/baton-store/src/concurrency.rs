//! Flow concurrency slots: the values, and the one decision both backends take.
//!
//! A flow with `concurrency: {limit: N}` lets at most N of its executions run at once. Each
//! running execution holds a slot row; an execution that must wait (behaviour QUEUE) holds a
//! queued row. Every decision about a flow's slots first locks the flow's row in
//! `concurrency_locks` inside the executor's step transaction (the one that also writes the
//! execution's new state), so two executors deciding for the same flow go one after the other
//! and the count they read is exact. That is what Kestra's `concurrency` lacked when a burst of
//! executions all saw a free slot at once (kestra#18422, #10228).
//!
//! Slots are freed in the transaction that writes the execution's terminal state (success,
//! failure, kill, cancel), and that transaction hands each freed slot to the oldest queued
//! execution of the flow, so a slot can neither leak (kestra#13211, #13743) nor be given twice.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Asks for a slot for one execution, inside its step transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRequest<'a> {
    pub namespace: &'a str,
    pub flow_id: &'a str,
    pub execution_id: Uuid,
    /// The flow revision's `concurrency.limit`, at least 1.
    pub limit: u32,
    /// `behavior: QUEUE`: wait for a slot instead of being refused.
    pub queue: bool,
    /// Where the execution stands in the queue if it has to wait (its creation time for a new
    /// execution, the time of the restart for a restarted one). Ignored when it already waits.
    pub queued_at: DateTime<Utc>,
}

/// What the limit decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotDecision {
    /// The execution holds a slot: it may run.
    Acquired,
    /// Every slot is taken (or older executions wait first): it waits in the queue.
    Queued,
    /// Every slot is taken and the behaviour is CANCEL or FAIL: it must not run.
    Refused,
}

/// Whether a slot row is held or waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    Running,
    Queued,
}

impl SlotState {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Running => "running",
            SlotState::Queued => "queued",
        }
    }

    pub(crate) fn parse(text: &str) -> crate::Result<Self> {
        match text {
            "running" => Ok(SlotState::Running),
            "queued" => Ok(SlotState::Queued),
            other => Err(crate::Error::InvalidData {
                what: "concurrency slot state",
                value: other.to_owned(),
            }),
        }
    }
}

/// One slot row, as `concurrency_slots` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcurrencySlot {
    pub execution_id: Uuid,
    pub namespace: String,
    pub flow_id: String,
    pub state: SlotState,
    pub limit: u32,
    pub queued_at: DateTime<Utc>,
}

/// What a backend read about the flow's slots, under the flow's lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlotFacts {
    /// The row this execution already has, if any.
    pub mine: Option<SlotState>,
    /// Slots held by running executions of the flow.
    pub running: i64,
    /// Executions queued before this one.
    pub queued_ahead: i64,
}

/// What a backend must write after [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotWrite {
    /// Nothing changes.
    Keep,
    /// Insert or update the execution's row to this state.
    Upsert(SlotState),
    /// Remove the execution's row (a queued row left by an earlier revision's QUEUE behaviour).
    Remove,
}

/// The decision, given the facts read under the flow's lock. First in, first out: a free slot
/// goes to a new execution only when nobody queued before it.
pub(crate) fn decide(request: &SlotRequest<'_>, facts: SlotFacts) -> (SlotDecision, SlotWrite) {
    if facts.mine == Some(SlotState::Running) {
        return (SlotDecision::Acquired, SlotWrite::Keep);
    }
    if facts.running < i64::from(request.limit) && facts.queued_ahead == 0 {
        return (
            SlotDecision::Acquired,
            SlotWrite::Upsert(SlotState::Running),
        );
    }
    match (request.queue, facts.mine) {
        (true, Some(SlotState::Queued)) => (SlotDecision::Queued, SlotWrite::Keep),
        (true, _) => (SlotDecision::Queued, SlotWrite::Upsert(SlotState::Queued)),
        (false, Some(_)) => (SlotDecision::Refused, SlotWrite::Remove),
        (false, None) => (SlotDecision::Refused, SlotWrite::Keep),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(limit: u32, queue: bool) -> SlotRequest<'static> {
        SlotRequest {
            namespace: "ns",
            flow_id: "f",
            execution_id: Uuid::nil(),
            limit,
            queue,
            queued_at: DateTime::UNIX_EPOCH,
        }
    }

    fn facts(mine: Option<SlotState>, running: i64, queued_ahead: i64) -> SlotFacts {
        SlotFacts {
            mine,
            running,
            queued_ahead,
        }
    }

    #[test]
    fn a_free_slot_is_taken_unless_someone_queued_first() {
        let take = (
            SlotDecision::Acquired,
            SlotWrite::Upsert(SlotState::Running),
        );
        assert_eq!(decide(&request(2, true), facts(None, 1, 0)), take);
        assert_eq!(
            decide(&request(2, true), facts(Some(SlotState::Queued), 1, 0)),
            take
        );
        assert_eq!(
            decide(&request(2, true), facts(None, 1, 1)),
            (SlotDecision::Queued, SlotWrite::Upsert(SlotState::Queued))
        );
    }

    #[test]
    fn a_held_slot_is_kept_even_over_the_limit() {
        // The limit may have been lowered by a later revision; a running execution keeps its slot.
        assert_eq!(
            decide(&request(1, false), facts(Some(SlotState::Running), 3, 2)),
            (SlotDecision::Acquired, SlotWrite::Keep)
        );
    }

    #[test]
    fn a_full_flow_queues_or_refuses_by_behaviour() {
        assert_eq!(
            decide(&request(1, true), facts(Some(SlotState::Queued), 1, 0)),
            (SlotDecision::Queued, SlotWrite::Keep)
        );
        assert_eq!(
            decide(&request(1, false), facts(None, 1, 0)),
            (SlotDecision::Refused, SlotWrite::Keep)
        );
        assert_eq!(
            decide(&request(1, false), facts(Some(SlotState::Queued), 1, 0)),
            (SlotDecision::Refused, SlotWrite::Remove)
        );
    }
}
