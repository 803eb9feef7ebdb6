//! A cluster plus a scheduler whose clock the test moves, and what it reports.

use std::sync::Arc;
use std::time::Duration;

use baton_scheduler::{Clock, FireReport, ManualClock, Scheduler, SchedulerOptions};
use baton_store::{TriggerFilter, TriggerKey, TriggerState};
use baton_tests::TestCluster;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

pub fn options() -> SchedulerOptions {
    SchedulerOptions {
        blocked_poll: Duration::from_millis(50),
        ..SchedulerOptions::default()
    }
}

pub struct Scheduled {
    pub cluster: TestCluster,
    pub clock: Arc<dyn Clock>,
    /// Set when the test moves the clock by hand.
    pub manual: Option<Arc<ManualClock>>,
    reports: mpsc::UnboundedReceiver<FireReport>,
    report_sender: mpsc::UnboundedSender<FireReport>,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Scheduled {
    /// A SQLite cluster and a scheduler whose clock reads `start` until the test moves it.
    pub async fn manual(start: &str) -> Self {
        let cluster = TestCluster::builder().start().await.expect("cluster");
        let clock = Arc::new(ManualClock::new(at(start)));
        Self::with_clock(cluster, clock.clone(), Some(clock))
    }

    pub fn with_clock(
        cluster: TestCluster,
        clock: Arc<dyn Clock>,
        manual: Option<Arc<ManualClock>>,
    ) -> Self {
        let (report_sender, reports) = mpsc::unbounded_channel();
        let mut scheduled = Self {
            cluster,
            clock,
            manual,
            reports,
            report_sender,
            running: None,
        };
        scheduled.start_scheduler();
        scheduled
    }

    pub fn start_scheduler(&mut self) {
        let scheduler =
            Scheduler::new(self.cluster.executor.clone(), self.clock.clone(), options())
                .with_reports(self.report_sender.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            scheduler
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .expect("the scheduler runs");
        });
        self.running = Some((stop, task));
    }

    /// Stops the scheduler as a shutdown does (fires in flight finish).
    pub async fn stop_scheduler(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            task.await.expect("the scheduler stops");
        }
    }

    pub fn set_clock(&self, text: &str) {
        self.manual.as_ref().expect("a manual clock").set(at(text));
    }

    /// The next execution the scheduler creates (at most 15 s away).
    pub async fn next_fire(&mut self) -> FireReport {
        tokio::time::timeout(Duration::from_secs(15), self.reports.recv())
            .await
            .expect("a fire within 15 s")
            .expect("the report channel is open")
    }

    /// Asserts nothing fires within `wait`.
    pub async fn no_fire(&mut self, wait: Duration) {
        if let Ok(Some(report)) = tokio::time::timeout(wait, self.reports.recv()).await {
            panic!("unexpected fire: {report:?}");
        }
    }

    /// Waits until the store holds `count` trigger rows (the scheduler synced the flows).
    pub async fn synced(&self, count: usize) -> Vec<TriggerState> {
        self.trigger_rows_until(|rows| rows.len() == count).await
    }

    pub async fn trigger_rows_until(
        &self,
        done: impl Fn(&[TriggerState]) -> bool,
    ) -> Vec<TriggerState> {
        for _ in 0..500 {
            let rows = self
                .cluster
                .store
                .list_triggers(&TriggerFilter::default())
                .await
                .expect("list triggers");
            if done(&rows) {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("trigger rows never reached the expected state");
    }

    pub async fn trigger(&self, key: &TriggerKey) -> TriggerState {
        self.cluster
            .store
            .get_trigger(key)
            .await
            .expect("trigger row")
    }

    /// The execution a report names, once it has ended.
    pub async fn ended(&self, report: &FireReport) -> baton_core::execution::Execution {
        self.cluster
            .wait_until_ended(&report.execution_id.to_string())
            .await
            .expect("the execution ends")
    }
}

pub fn key(namespace: &str, flow: &str, trigger: &str) -> TriggerKey {
    TriggerKey::new(namespace, flow, trigger)
}
