//! Schedule triggers on a hand-moved clock.

use std::time::Duration;

use baton_core::execution::State;
use baton_scheduler::control;

use crate::support::{Scheduled, at, key};

/// The seeds' flow 05 shape: two monthly schedules with their own inputs, `trigger.date`
/// choosing the month, one execution at a time.
pub const TAXI: &str = r#"
id: taxi_scheduled
namespace: zoomcamp
inputs:
  - id: taxi
    type: SELECT
    values: [green, yellow]
    defaults: green
variables:
  file: "{{inputs.taxi}}_tripdata_{{trigger.date | date('yyyy-MM')}}.csv"
concurrency:
  limit: 1
tasks:
  - id: extract
    type: io.kestra.plugin.core.log.Log
    message: "loading {{ render(vars.file) }}"
triggers:
  - id: green_schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 1 * *"
    timezone: Europe/Paris
    inputs:
      taxi: green
  - id: yellow_schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 10 1 * *"
    timezone: Europe/Paris
    inputs:
      taxi: yellow
"#;

fn hourly(id: &str, extra: &str) -> String {
    format!(
        r#"
id: {id}
namespace: tests.schedules
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "fired for {{{{ trigger.date }}}}"
triggers:
  - id: hourly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
{extra}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monthly_schedules_fire_on_the_first_at_nine_and_ten_in_their_zone_with_their_inputs() {
    let mut s = Scheduled::manual("2021-01-31T12:00:00Z").await;
    s.cluster.deploy(TAXI).await.unwrap();
    s.synced(2).await;
    for (month, winter) in [("02", true), ("03", true), ("04", false)] {
        let offset = if winter { "+01:00" } else { "+02:00" };
        for (taxi, hour) in [("green", 9), ("yellow", 10)] {
            let local = format!("2021-{month}-01T{hour:02}:00:00{offset}");
            s.set_clock(&local);
            let fire = s.next_fire().await;
            assert_eq!(fire.key.trigger_id, format!("{taxi}_schedule"));
            assert_eq!(fire.date, at(&local));
            let execution = s.ended(&fire).await;
            assert_eq!(execution.state, State::Success);
            assert_eq!(execution.inputs["taxi"], taxi);
            let trigger = execution.trigger.expect("trigger variables");
            assert_eq!(trigger["date"], local);
            let previous_month = month.parse::<u8>().unwrap() - 1;
            let previous = format!("2021-{previous_month:02}-01T{hour:02}:00:00+01:00");
            assert_eq!(trigger["previous"], previous);
            let logs = s.cluster.logs(&execution.id).await.unwrap();
            let expected = format!("loading {taxi}_tripdata_2021-{month}.csv");
            assert!(
                logs.iter().any(|l| l.entry.message == expected),
                "{expected} not in {:?}",
                logs.iter().map(|l| &l.entry.message).collect::<Vec<_>>()
            );
            s.no_fire(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spring_forward_fires_a_time_in_the_gap_once_right_after_it() {
    let mut s = Scheduled::manual("2021-03-27T12:00:00Z").await;
    let nightly =
        hourly("nightly", "    timezone: Europe/Paris").replace("0 * * * *", "30 2 * * *");
    s.cluster.deploy(&nightly).await.unwrap();
    s.synced(1).await;
    // 02:30 does not exist on 2021-03-28 in Paris: 02:00 CET is followed by 03:00 CEST.
    s.set_clock("2021-03-28T03:00:00+02:00");
    let fire = s.next_fire().await;
    assert_eq!(fire.date, at("2021-03-28T01:00:00Z"));
    let execution = s.ended(&fire).await;
    assert_eq!(
        execution.trigger.unwrap()["date"],
        "2021-03-28T03:00:00+02:00"
    );
    s.set_clock("2021-03-28T12:00:00+02:00");
    s.no_fire(Duration::from_millis(300)).await;
    let row = s
        .trigger(&key("tests.schedules", "nightly", "hourly"))
        .await;
    assert_eq!(row.next_fire_at, Some(at("2021-03-29T02:30:00+02:00")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fall_back_fires_a_repeated_time_once() {
    let mut s = Scheduled::manual("2021-10-30T12:00:00Z").await;
    let nightly =
        hourly("nightly", "    timezone: Europe/Paris").replace("0 * * * *", "30 2 * * *");
    s.cluster.deploy(&nightly).await.unwrap();
    s.synced(1).await;
    // 02:30 happens twice on 2021-10-31 in Paris: in CEST, then in CET.
    s.set_clock("2021-10-31T02:30:00+02:00");
    let fire = s.next_fire().await;
    assert_eq!(fire.date, at("2021-10-31T02:30:00+02:00"));
    s.ended(&fire).await;
    s.set_clock("2021-10-31T02:30:00+01:00");
    s.no_fire(Duration::from_millis(300)).await;
    let row = s
        .trigger(&key("tests.schedules", "nightly", "hourly"))
        .await;
    assert_eq!(row.next_fire_at, Some(at("2021-11-01T02:30:00+01:00")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missed_dates_after_downtime_follow_recover_missed_schedules() {
    let mut s = Scheduled::manual("2021-01-01T00:30:00Z").await;
    for (id, policy) in [("all", "ALL"), ("last", "LAST"), ("none", "NONE")] {
        let extra = format!("    recoverMissedSchedules: {policy}");
        s.cluster.deploy(&hourly(id, &extra)).await.unwrap();
    }
    s.synced(3).await;
    s.stop_scheduler().await;
    // Down for three hours: 01:00, 02:00 and 03:00 were missed.
    s.set_clock("2021-01-01T03:30:00Z");
    s.start_scheduler();
    let mut fired = Vec::new();
    while let Ok(fire) = tokio::time::timeout(Duration::from_secs(3), s.next_fire()).await {
        // Schedules do not overlap: the next missed date fires once this one has ended.
        s.ended(&fire).await;
        fired.push((
            fire.key.flow_id.clone(),
            fire.date.format("%H:%M").to_string(),
        ));
    }
    fired.sort();
    let expected: Vec<(String, String)> = [
        ("all", "01:00"),
        ("all", "02:00"),
        ("all", "03:00"),
        ("last", "03:00"),
    ]
    .iter()
    .map(|(f, d)| ((*f).to_owned(), (*d).to_owned()))
    .collect();
    assert_eq!(fired, expected);
    for id in ["all", "last", "none"] {
        let row = s.trigger(&key("tests.schedules", id, "hourly")).await;
        assert_eq!(row.next_fire_at, Some(at("2021-01-01T04:00:00Z")), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schedule_waits_for_its_running_execution_and_stop_after_disables_it() {
    let mut s = Scheduled::manual("2021-01-01T00:30:00Z").await;
    let flow = r#"
id: slow
namespace: tests.schedules
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT60S
triggers:
  - id: stopping
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
    stopAfter: [KILLED]
  - id: waiting
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
"#;
    s.cluster.deploy(flow).await.unwrap();
    s.synced(2).await;
    s.set_clock("2021-01-01T01:00:00Z");
    let first = [s.next_fire().await, s.next_fire().await];
    for fire in &first {
        s.cluster
            .wait_for(&fire.execution_id.to_string(), |e| {
                e.state == State::Running
            })
            .await
            .unwrap();
    }
    // 02:00 is due, but both executions still run: schedules do not overlap.
    s.set_clock("2021-01-01T02:00:00Z");
    s.no_fire(Duration::from_millis(500)).await;
    for fire in &first {
        baton_executor::executor::kill(&s.cluster.executor, &fire.execution_id.to_string())
            .await
            .unwrap();
    }
    let next = s.next_fire().await;
    assert_eq!(next.key.trigger_id, "waiting");
    assert_eq!(next.date, at("2021-01-01T02:00:00Z"));
    s.no_fire(Duration::from_millis(300)).await;
    let stopped = s.trigger(&key("tests.schedules", "slow", "stopping")).await;
    assert!(stopped.disabled, "stopAfter [KILLED] disabled the trigger");
    assert_eq!(stopped.next_fire_at, Some(at("2021-01-01T02:00:00Z")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn re_enabling_does_not_replay_the_disabled_period() {
    let mut s = Scheduled::manual("2021-01-01T00:30:00Z").await;
    s.cluster.deploy(&hourly("toggled", "")).await.unwrap();
    s.synced(1).await;
    let trigger = key("tests.schedules", "toggled", "hourly");
    let store = s.cluster.store.clone();
    control::set_disabled(store.as_ref(), &trigger, true, s.clock.now())
        .await
        .unwrap();
    s.set_clock("2021-01-01T03:30:00Z");
    s.no_fire(Duration::from_millis(300)).await;
    let enabled = control::set_disabled(store.as_ref(), &trigger, false, s.clock.now())
        .await
        .unwrap();
    assert_eq!(enabled.next_fire_at, Some(at("2021-01-01T04:00:00Z")));
    s.no_fire(Duration::from_millis(300)).await;
    s.set_clock("2021-01-01T04:00:00Z");
    assert_eq!(s.next_fire().await.date, at("2021-01-01T04:00:00Z"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flow_edits_restart_a_changed_schedule_and_deletes_stop_it() {
    let mut s = Scheduled::manual("2021-01-01T00:30:00Z").await;
    let trigger = key("tests.schedules", "edited", "hourly");
    s.cluster.deploy(&hourly("edited", "")).await.unwrap();
    s.synced(1).await;
    // A new cron: the schedule restarts from now.
    let half_past = hourly("edited", "").replace("0 * * * *", "30 * * * *");
    s.cluster.deploy(&half_past).await.unwrap();
    let half = at("2021-01-01T01:30:00Z");
    s.trigger_rows_until(|rows| rows.iter().any(|r| r.next_fire_at == Some(half)))
        .await;
    s.set_clock("2021-01-01T01:00:00Z");
    s.no_fire(Duration::from_millis(300)).await;
    s.set_clock("2021-01-01T01:30:00Z");
    let fire = s.next_fire().await;
    assert_eq!(fire.date, half);
    s.ended(&fire).await;
    // Another message, same schedule: the next date stays.
    let reworded = half_past.replace("fired for", "ran for");
    s.cluster.deploy(&reworded).await.unwrap();
    s.trigger_rows_until(|rows| rows.iter().any(|r| r.flow_revision == 3))
        .await;
    assert_eq!(
        s.trigger(&trigger).await.next_fire_at,
        Some(at("2021-01-01T02:30:00Z"))
    );
    // A deleted flow fires no more.
    s.cluster
        .store
        .delete_flow("tests.schedules", "edited")
        .await
        .unwrap();
    s.trigger_rows_until(<[_]>::is_empty).await;
    s.set_clock("2021-01-01T02:30:00Z");
    s.no_fire(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clock_that_jumps_back_fires_no_date_twice() {
    let mut s = Scheduled::manual("2021-01-01T00:30:00Z").await;
    s.cluster.deploy(&hourly("jumpy", "")).await.unwrap();
    s.synced(1).await;
    s.set_clock("2021-01-01T01:00:00Z");
    let first = s.next_fire().await;
    s.ended(&first).await;
    s.set_clock("2021-01-01T00:00:00Z");
    s.no_fire(Duration::from_millis(200)).await;
    s.set_clock("2021-01-01T01:00:00Z");
    s.no_fire(Duration::from_millis(300)).await;
    s.set_clock("2021-01-01T02:00:00Z");
    assert_eq!(s.next_fire().await.date, at("2021-01-01T02:00:00Z"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inputs_the_flow_refuses_give_a_failed_execution_and_the_schedule_moves_on() {
    let mut s = Scheduled::manual("2021-01-01T00:30:00Z").await;
    let flow = r#"
id: taxi_scheduled
namespace: zoomcamp
inputs:
  - id: taxi
    type: SELECT
    values: [green, yellow]
tasks:
  - id: extract
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.taxi }}"
triggers:
  - id: green_schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
    inputs:
      taxi: purple
"#;
    s.cluster.deploy(flow).await.unwrap();
    s.synced(1).await;
    s.set_clock("2021-01-01T01:00:00Z");
    let fire = s.next_fire().await;
    let execution = s.ended(&fire).await;
    assert_eq!(execution.state, State::Failed);
    let error = execution.error.unwrap_or_default();
    assert!(
        error.contains("green_schedule") && error.contains("taxi"),
        "{error}"
    );
    let row = s
        .trigger(&key("zoomcamp", "taxi_scheduled", "green_schedule"))
        .await;
    assert_eq!(row.next_fire_at, Some(at("2021-01-01T02:00:00Z")));
}
