//! The scheduler's loop: one task owns the armed triggers and the timer; fires run as tasks of
//! their own and report back on a channel.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use baton_core::parse::FlowParser;
use baton_executor::executor::ExecutorState;
use baton_store::{Backfill, BackfillState, SCHEDULER_WAKEUP, Store, TriggerFilter, TriggerKey};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::backfill::{BackfillOutcome, fire_backfill};
use crate::batch::fire_batch;
use crate::clock::Clock;
use crate::fire::{Armed, TriggerOutcome};
use crate::timer::{Target, Timer};
use crate::{Error, FireReport, SchedulerOptions};

/// Triggers due at one date fire together, this many at most per store call.
const MAX_BATCH: usize = 256;

/// What fire tasks share.
pub(crate) struct Context {
    pub(crate) store: Arc<dyn Store>,
    /// Builds executions (inputs resolved against the flow revision, parsed flows cached).
    pub(crate) executor: Arc<ExecutorState>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) options: SchedulerOptions,
    pub(crate) reports: Option<mpsc::UnboundedSender<FireReport>>,
}

/// The scheduler role. Any number may run against one store.
pub struct Scheduler {
    context: Context,
    ready: Option<oneshot::Sender<Ready>>,
}

/// What a scheduler had loaded when it first armed its timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// Schedule triggers in memory.
    pub triggers: usize,
    /// Of those and the running backfills, how many wait in the timer.
    pub armed: usize,
}

impl Scheduler {
    pub fn new(
        executor: Arc<ExecutorState>,
        clock: Arc<dyn Clock>,
        options: SchedulerOptions,
    ) -> Self {
        Self {
            context: Context {
                store: executor.store.clone(),
                executor,
                clock,
                options,
                reports: None,
            },
            ready: None,
        }
    }

    /// Tells `ready` once the first sync and load are done and the timer is armed.
    pub fn with_ready(mut self, ready: oneshot::Sender<Ready>) -> Self {
        self.ready = Some(ready);
        self
    }

    /// Reports every execution this scheduler creates, once committed.
    pub fn with_reports(mut self, reports: mpsc::UnboundedSender<FireReport>) -> Self {
        self.context.reports = Some(reports);
        self
    }

    /// Runs until `shutdown` resolves; fires in flight then finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let context = Arc::new(self.context);
        let wakeup = context.store.subscribe(SCHEDULER_WAKEUP).await?;
        let (outcomes_tx, mut outcomes) = mpsc::unbounded_channel();
        let mut runtime = Runtime {
            context: context.clone(),
            parser: Arc::new(FlowParser::default()),
            triggers: HashMap::new(),
            backfills: HashMap::new(),
            timer: Timer::default(),
            in_flight: HashSet::new(),
            blocked: HashMap::new(),
            outcomes: outcomes_tx,
            tasks: JoinSet::new(),
        };
        runtime.refresh().await;
        if let Some(ready) = self.ready {
            let _ = ready.send(Ready {
                triggers: runtime.triggers.len(),
                armed: runtime.timer.len(),
            });
        }
        let mut blocked_poll = tokio::time::interval(context.options.blocked_poll);
        let mut resync = tokio::time::interval(context.options.resync_interval);
        resync.reset();
        tokio::pin!(shutdown);
        loop {
            let due = runtime.timer.next();
            let room = runtime.tasks.len() < context.options.max_concurrent_fires;
            tokio::select! {
                () = &mut shutdown => break,
                Some(outcome) = outcomes.recv() => runtime.apply(outcome),
                () = wakeup.notified() => runtime.refresh().await,
                () = sleep_until(context.clock.as_ref(), due), if room && due.is_some() => {
                    runtime.fire_due();
                }
                _ = blocked_poll.tick(), if !runtime.blocked.is_empty() => {
                    runtime.check_blocked().await;
                }
                _ = resync.tick() => runtime.refresh().await,
                Some(_) = runtime.tasks.join_next(), if !runtime.tasks.is_empty() => {}
            }
        }
        while runtime.tasks.join_next().await.is_some() {}
        Ok(())
    }
}

async fn sleep_until(clock: &dyn Clock, at: Option<chrono::DateTime<chrono::Utc>>) {
    if let Some(at) = at {
        clock.sleep_until(at).await;
    }
}

/// A fire task's result.
pub(crate) enum Outcome {
    Trigger(Arc<TriggerKey>, Result<TriggerOutcome, Error>),
    Backfill(Uuid, Result<BackfillOutcome, Error>),
}

struct Runtime {
    context: Arc<Context>,
    parser: Arc<FlowParser>,
    triggers: HashMap<Arc<TriggerKey>, Armed>,
    /// Running and paused backfills.
    backfills: HashMap<Uuid, Backfill>,
    timer: Timer,
    /// Targets with a fire task running: their outcome re-arms them.
    in_flight: HashSet<Target>,
    /// Targets due but waiting for their last execution to end, with its id.
    blocked: HashMap<Target, Uuid>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    tasks: JoinSet<()>,
}

impl Runtime {
    /// Syncs trigger rows from changed flows, then reloads rows and backfills and re-arms what
    /// changed. Failures are logged; the next wake-up or resync tries again.
    async fn refresh(&mut self) {
        let store = &self.context.store;
        match crate::sync::sync_flows(store, &self.parser, self.context.clock.now()).await {
            Ok(0) => {}
            Ok(synced) => tracing::info!(synced, "synced trigger rows from flows"),
            Err(error) => tracing::warn!(%error, "syncing trigger rows failed"),
        }
        if let Err(error) = self.reload().await {
            tracing::warn!(%error, "reloading triggers failed");
        }
    }

    async fn reload(&mut self) -> Result<(), Error> {
        let context = self.context.clone();
        let store = context.store.as_ref();
        let rows = store.list_triggers(&TriggerFilter::default()).await?;
        let mut seen = HashSet::with_capacity(rows.len());
        for row in rows {
            let key = match self.triggers.get_key_value(&row.key) {
                Some((key, armed)) if armed.state == row => {
                    seen.insert(key.clone());
                    continue;
                }
                Some((key, _)) => key.clone(),
                None => Arc::new(row.key.clone()),
            };
            seen.insert(key.clone());
            if !self.in_flight.contains(&Target::Trigger(key.clone())) {
                self.update_trigger(key, row);
            }
        }
        let gone: Vec<Arc<TriggerKey>> = self
            .triggers
            .keys()
            .filter(|key| !seen.contains(*key))
            .cloned()
            .collect();
        for key in gone {
            self.remove(&Target::Trigger(key.clone()));
            self.triggers.remove(&key);
        }
        let backfills = store.list_backfills(None, true).await?;
        let active: HashSet<Uuid> = backfills.iter().map(|b| b.id).collect();
        for backfill in backfills {
            let target = Target::Backfill(backfill.id);
            if self.backfills.get(&backfill.id) != Some(&backfill)
                && !self.in_flight.contains(&target)
            {
                self.update_backfill(backfill);
            }
        }
        let ended: Vec<Uuid> = self
            .backfills
            .keys()
            .filter(|id| !active.contains(id))
            .copied()
            .collect();
        for id in ended {
            self.remove(&Target::Backfill(id));
            self.backfills.remove(&id);
        }
        tracing::debug!(
            armed = self.timer.len(),
            triggers = self.triggers.len(),
            "reloaded"
        );
        Ok(())
    }

    fn remove(&mut self, target: &Target) {
        self.timer.disarm(target);
        self.blocked.remove(target);
    }

    /// Takes a trigger's new row and arms it as the row says.
    fn update_trigger(&mut self, key: Arc<TriggerKey>, state: baton_store::TriggerState) {
        let target = Target::Trigger(key.clone());
        self.remove(&target);
        let armed = match Armed::from_state(key.clone(), state, self.triggers.get(&key)) {
            Ok(armed) => armed,
            Err(error) => {
                tracing::error!(%error, "the trigger cannot fire");
                self.triggers.remove(&key);
                return;
            }
        };
        let now = self.context.clock.now();
        let state = &armed.state;
        let next = state
            .next_fire_at
            .filter(|_| !state.disabled && !armed.definition.disabled);
        match (next, state.last_execution_id) {
            (Some(next), Some(execution)) if state.is_waiting() && next <= now => {
                self.blocked.insert(target, execution);
            }
            (Some(next), _) => {
                let ahead = chrono::TimeDelta::from_std(self.context.options.prepare_ahead)
                    .unwrap_or_default();
                self.timer.arm(target, next - ahead);
            }
            (None, _) => {}
        }
        self.triggers.insert(key, armed);
    }

    fn update_backfill(&mut self, backfill: Backfill) {
        let target = Target::Backfill(backfill.id);
        self.remove(&target);
        if backfill.state == BackfillState::Running && backfill.next_fire_at.is_some() {
            match backfill.execution_id {
                Some(execution) if backfill.is_waiting() => {
                    self.blocked.insert(target, execution);
                }
                _ => self.timer.arm(target, self.context.clock.now()),
            }
        }
        if backfill.state.is_active() {
            self.backfills.insert(backfill.id, backfill);
        } else {
            self.backfills.remove(&backfill.id);
        }
    }

    /// Starts fire tasks for every target due now, as long as there is room: one per backfill,
    /// and one per date for the triggers (up to [`MAX_BATCH`] each), which fire together.
    fn fire_due(&mut self) {
        let now = self.context.clock.now();
        let mut batches: HashMap<Option<DateTime<Utc>>, Vec<Armed>> = HashMap::new();
        while self.tasks.len() + batches.len() < self.context.options.max_concurrent_fires {
            let Some(target) = self.timer.pop_due(now) else {
                break;
            };
            match &target {
                Target::Trigger(key) => {
                    let Some(armed) = self.triggers.get(key).cloned() else {
                        continue;
                    };
                    let due = armed.state.next_fire_at;
                    let batch = batches.entry(due).or_default();
                    batch.push(armed);
                    if batch.len() == MAX_BATCH {
                        let full = std::mem::take(batch);
                        self.spawn_batch(due, full);
                    }
                }
                Target::Backfill(id) => {
                    let Some(backfill) = self.backfills.get(id).cloned() else {
                        continue;
                    };
                    let Some(trigger) = self.triggers.get(&backfill.key).cloned() else {
                        tracing::warn!(backfill = %id, trigger = %backfill.key, "the backfill's trigger is not loaded");
                        continue;
                    };
                    let context = self.context.clone();
                    let outcomes = self.outcomes.clone();
                    let id = *id;
                    self.tasks.spawn(async move {
                        let result = fire_backfill(&context, &backfill, &trigger).await;
                        let _ = outcomes.send(Outcome::Backfill(id, result));
                    });
                }
            }
            self.in_flight.insert(target);
        }
        for (due, batch) in batches {
            if !batch.is_empty() {
                self.spawn_batch(due, batch);
            }
        }
    }

    fn spawn_batch(&mut self, due: Option<DateTime<Utc>>, batch: Vec<Armed>) {
        let context = self.context.clone();
        let outcomes = self.outcomes.clone();
        self.tasks.spawn(async move {
            for (key, result) in fire_batch(context, due, batch).await {
                let _ = outcomes.send(Outcome::Trigger(key, result));
            }
        });
    }

    fn apply(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Trigger(key, result) => {
                let target = Target::Trigger(key.clone());
                self.in_flight.remove(&target);
                match result {
                    Ok(TriggerOutcome::Updated(state)) => self.update_trigger(key, state),
                    Ok(TriggerOutcome::Gone) => {
                        self.remove(&target);
                        self.triggers.remove(&key);
                    }
                    Err(error) => self.retry(target, &error),
                }
            }
            Outcome::Backfill(id, result) => {
                let target = Target::Backfill(id);
                self.in_flight.remove(&target);
                match result {
                    Ok(BackfillOutcome::Updated(backfill)) => self.update_backfill(backfill),
                    Ok(BackfillOutcome::Gone) => {
                        self.remove(&target);
                        self.backfills.remove(&id);
                    }
                    Err(error) => self.retry(target, &error),
                }
            }
        }
    }

    fn retry(&mut self, target: Target, error: &Error) {
        tracing::warn!(%error, ?target, "firing failed; trying again");
        let delay = chrono::TimeDelta::from_std(self.context.options.retry_after)
            .unwrap_or(chrono::TimeDelta::seconds(1));
        self.timer.arm(target, self.context.clock.now() + delay);
    }

    /// Arms, for now, the targets whose awaited execution has ended.
    async fn check_blocked(&mut self) {
        let ids: Vec<Uuid> = self.blocked.values().copied().collect();
        let ended: HashSet<Uuid> = match self.context.store.ended_executions(&ids).await {
            Ok(ended) => ended.into_iter().collect(),
            Err(error) => {
                tracing::warn!(%error, "checking awaited executions failed");
                return;
            }
        };
        let now = self.context.clock.now();
        let released: Vec<Target> = self
            .blocked
            .iter()
            .filter(|(_, id)| ended.contains(id))
            .map(|(target, _)| target.clone())
            .collect();
        for target in released {
            self.blocked.remove(&target);
            // The state read with the row is stale: forget it, and let the fire task read the
            // row again under its lock.
            match &target {
                Target::Trigger(key) => {
                    if let Some(armed) = self.triggers.get_mut(key) {
                        armed.state.last_execution_state = None;
                    }
                }
                Target::Backfill(id) => {
                    if let Some(backfill) = self.backfills.get_mut(id) {
                        backfill.execution_state = None;
                    }
                }
            }
            self.timer.arm(target, now);
        }
    }
}
