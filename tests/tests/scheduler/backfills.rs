//! Backfills on the system clock: their dates are in the past, so they run at once.

use std::sync::Arc;
use std::time::Duration;

use baton_core::execution::{Execution, State};
use baton_scheduler::SystemClock;
use baton_scheduler::backfill::{self, BackfillRequest};
use baton_store::BackfillState;
use baton_tests::TestCluster;
use chrono::Utc;

use crate::schedules::TAXI;
use crate::support::{Scheduled, at, key};

async fn scheduled() -> Scheduled {
    let cluster = TestCluster::builder().start().await.expect("cluster");
    Scheduled::with_clock(cluster, Arc::new(SystemClock::default()), None)
}

/// The flow 05 shape, each execution taking long enough that two would overlap if the
/// backfill did not wait.
fn slow_taxi() -> String {
    TAXI.replace(
        "tasks:\n",
        "tasks:\n  - id: download\n    type: io.kestra.plugin.core.flow.Sleep\n    duration: PT0.3S\n",
    )
}

fn months(from: &str, to: &str) -> BackfillRequest {
    BackfillRequest {
        start: Some(at(from)),
        end: Some(at(to)),
        ..BackfillRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seven_months_of_flow_05_run_in_order_one_at_a_time_each_with_its_date() {
    let mut s = scheduled().await;
    s.cluster.deploy(&slow_taxi()).await.unwrap();
    s.synced(2).await;
    let green = key("zoomcamp", "taxi_scheduled", "green_schedule");
    let store = s.cluster.store.clone();
    let started = backfill::start(
        store.as_ref(),
        &green,
        months("2021-01-01T00:00:00Z", "2021-07-31T23:59:59Z"),
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!((started.total, started.state), (7, BackfillState::Running));

    let mut executions: Vec<Execution> = Vec::new();
    for month in 1..=7 {
        let fire = s.next_fire().await;
        assert_eq!(fire.backfill_id, Some(started.id));
        let offset = if month <= 3 { "+01:00" } else { "+02:00" };
        let local = format!("2021-{month:02}-01T09:00:00{offset}");
        assert_eq!(fire.date, at(&local), "in order");
        let execution = s.ended(&fire).await;
        assert_eq!(execution.state, State::Success);
        assert_eq!(execution.labels["backfill"], "true");
        assert_eq!(execution.inputs["taxi"], "green");
        assert_eq!(execution.trigger.as_ref().unwrap()["date"], local);
        let logs = s.cluster.logs(&execution.id).await.unwrap();
        let expected = format!("loading green_tripdata_2021-{month:02}.csv");
        assert!(
            logs.iter().any(|l| l.entry.message == expected),
            "{expected}"
        );
        executions.push(execution);
    }
    s.no_fire(Duration::from_millis(500)).await;
    // Never two running: each started after the previous one ended.
    for pair in executions.windows(2) {
        let ended = pair[0].ended_at.expect("ended");
        let started = pair[1].history.first().expect("history").at;
        assert!(
            started >= ended,
            "{} started before {} ended",
            pair[1].id,
            pair[0].id
        );
    }
    let done = store.get_backfill(started.id).await.unwrap();
    assert_eq!(done.state, BackfillState::Done);
    assert_eq!((done.created, done.ended, done.total), (7, 7, 7));
    assert!(done.next_fire_at.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backfill_pauses_resumes_and_cancels() {
    let mut s = scheduled().await;
    s.cluster.deploy(&slow_taxi()).await.unwrap();
    s.synced(2).await;
    let green = key("zoomcamp", "taxi_scheduled", "green_schedule");
    let store = s.cluster.store.clone();
    let mut request = months("2021-01-01T00:00:00Z", "2021-12-31T00:00:00Z");
    request.inputs.insert("taxi".into(), "yellow".into());
    request.labels.insert("batch".into(), "2021".into());
    backfill::start(store.as_ref(), &green, request, Utc::now())
        .await
        .unwrap();

    let first = s.next_fire().await;
    let paused = backfill::change(store.as_ref(), &green, BackfillState::Paused)
        .await
        .unwrap();
    assert_eq!(paused.state, BackfillState::Paused);
    let execution = s.ended(&first).await;
    assert_eq!(
        execution.inputs["taxi"], "yellow",
        "the backfill's inputs override"
    );
    assert_eq!(execution.labels["batch"], "2021");
    // The pause may have landed just after the second date fired; nothing fires after that.
    let mut created = 1;
    if let Ok(second) = tokio::time::timeout(Duration::from_millis(500), s.next_fire()).await {
        s.ended(&second).await;
        created = 2;
    }
    s.no_fire(Duration::from_millis(700)).await;
    assert_eq!(
        store.get_backfill(paused.id).await.unwrap().created,
        created
    );

    backfill::change(store.as_ref(), &green, BackfillState::Running)
        .await
        .unwrap();
    let resumed = s.next_fire().await;
    assert_eq!(
        resumed.date.format("%m").to_string(),
        format!("{:02}", created + 1)
    );
    let cancelled = backfill::change(store.as_ref(), &green, BackfillState::Cancelled)
        .await
        .unwrap();
    assert_eq!(cancelled.state, BackfillState::Cancelled);
    s.ended(&resumed).await;
    s.no_fire(Duration::from_millis(700)).await;
    let last = store.get_backfill(paused.id).await.unwrap();
    assert_eq!(last.created, created + 1);
    assert!(matches!(
        backfill::change(store.as_ref(), &green, BackfillState::Running).await,
        Err(baton_scheduler::Error::Invalid(message)) if message.contains("no running or paused backfill")
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backfill_ranges_are_checked() {
    let s = scheduled().await;
    s.cluster.deploy(TAXI).await.unwrap();
    s.synced(2).await;
    let store = s.cluster.store.clone();
    let green = key("zoomcamp", "taxi_scheduled", "green_schedule");
    let backwards = backfill::start(
        store.as_ref(),
        &green,
        months("2021-07-01T00:00:00Z", "2021-01-01T00:00:00Z"),
        Utc::now(),
    )
    .await;
    assert!(
        matches!(&backwards, Err(baton_scheduler::Error::Invalid(m)) if m.contains("ends")),
        "{backwards:?}"
    );
    let missing = backfill::start(
        store.as_ref(),
        &key("zoomcamp", "taxi_scheduled", "nope"),
        months("2021-01-01T00:00:00Z", "2021-02-01T00:00:00Z"),
        Utc::now(),
    )
    .await;
    assert!(
        matches!(
            &missing,
            Err(baton_scheduler::Error::Store(
                baton_store::Error::TriggerNotFound(_)
            ))
        ),
        "{missing:?}"
    );
    // An empty range is done at once.
    let empty = backfill::start(
        store.as_ref(),
        &green,
        months("2021-01-02T00:00:00Z", "2021-01-03T00:00:00Z"),
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!((empty.total, empty.state), (0, BackfillState::Done));
}
