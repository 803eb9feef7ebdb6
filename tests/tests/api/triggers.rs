//! Triggers over the API: listing with next fire dates, disable/enable, run now, backfills.

use std::sync::Arc;

use baton_core::schedule::CronSchedule;
use baton_scheduler::{Scheduler, SchedulerOptions, SystemClock};
use chrono::Utc;

use super::support::*;

const TAXI: &str = r#"id: taxi
namespace: zoomcamp
inputs:
  - id: taxi
    type: SELECT
    values: [green, yellow]
tasks:
  - id: extract
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.taxi }}_tripdata_{{ trigger.date | date('yyyy-MM') }}.csv"
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
    disabled: true
    inputs:
      taxi: yellow
"#;

/// The API with a scheduler running beside it (it creates the trigger rows from flows).
async fn with_scheduler() -> anyhow::Result<Api> {
    let api = Api::start().await?;
    let scheduler = Scheduler::new(
        api._cluster.executor.clone(),
        Arc::new(SystemClock::default()),
        SchedulerOptions::default(),
    );
    tokio::spawn(scheduler.run(std::future::pending()));
    api.deploy(TAXI).await?;
    for _ in 0..250 {
        let (_, body) = api.get("/triggers/search?namespace=zoomcamp").await?;
        if body["total"] == 2 {
            return Ok(api);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("the scheduler never synced the flow's triggers")
}

fn green() -> Value {
    json!({"namespace": "zoomcamp", "flowId": "taxi", "triggerId": "green_schedule"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_are_listed_with_their_next_date_and_toggled() -> anyhow::Result<()> {
    let api = with_scheduler().await?;
    let schedule = CronSchedule::new("0 9 1 * *", false, Some("Europe/Paris")).unwrap();
    let next = schedule.format(schedule.next_after(Utc::now()).unwrap());

    let (status, listed) = api.get("/main/triggers/search?namespace=zoomcamp").await?;
    assert_eq!(status, StatusCode::OK);
    let results = listed["results"].as_array().unwrap();
    assert_eq!(results[0]["triggerId"], "green_schedule");
    assert_eq!(results[0]["nextExecutionDate"], next);
    assert_eq!(results[0]["cron"], "0 9 1 * *");
    assert_eq!(results[0]["timezone"], "Europe/Paris");
    assert_eq!(results[0]["disabled"], false);
    assert_eq!(results[1]["triggerId"], "yellow_schedule");
    assert_eq!(results[1]["disabled"], true, "disabled in the flow");
    assert_eq!(results[1]["nextExecutionDate"], Value::Null);

    let mut body = green();
    body["disabled"] = json!(true);
    let off = expect(
        api.http
            .put(api.url("/triggers"))
            .json(&body)
            .send()
            .await?,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(
        (off["disabled"].clone(), off["nextExecutionDate"].clone()),
        (json!(true), Value::Null)
    );
    let toggled = json!({"triggers": [green()], "disabled": false});
    let response = api
        .http
        .post(api.url("/triggers/set-disabled/by-triggers"))
        .json(&toggled)
        .send()
        .await?;
    assert_eq!(expect(response, StatusCode::OK).await?["count"], 1);
    let (_, on) = api.get("/triggers/zoomcamp/taxi/green_schedule").await?;
    assert_eq!(
        (on["disabled"].clone(), on["nextExecutionDate"].clone()),
        (json!(false), json!(next))
    );

    let (_, of_flow) = api.get("/triggers/zoomcamp/taxi").await?;
    assert_eq!(of_flow.as_array().unwrap().len(), 2);
    let (status, missing) = api.get("/triggers/zoomcamp/taxi/nope").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("zoomcamp.taxi.nope"),
        "{missing}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_now_starts_an_execution_with_the_trigger_inputs() -> anyhow::Result<()> {
    let api = with_scheduler().await?;
    let response = api
        .http
        .post(api.url("/triggers/zoomcamp/taxi/green_schedule/run"))
        .send()
        .await?;
    let execution = expect(response, StatusCode::OK).await?;
    assert_eq!(execution["inputs"]["taxi"], "green");
    assert!(execution["trigger"]["date"].is_string(), "{execution}");
    let ended = api
        .wait_until_ended(execution["id"].as_str().unwrap())
        .await?;
    assert_eq!(ended["state"], "SUCCESS");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfills_start_pause_resume_and_finish_over_the_api() -> anyhow::Result<()> {
    let api = with_scheduler().await?;
    let mut body = green();
    body["backfill"] = json!({
        "start": "2021-01-01",
        "end": "2021-03-31",
        "labels": [{"key": "source", "value": "api"}],
    });
    let started = expect(
        api.http
            .put(api.url("/triggers"))
            .json(&body)
            .send()
            .await?,
        StatusCode::OK,
    )
    .await?;
    assert_eq!(started["backfill"]["total"], 3);
    assert_eq!(started["backfill"]["start"], "2021-01-01T00:00:00+01:00");
    assert_eq!(started["backfill"]["end"], "2021-03-31T23:59:59+02:00");
    let again = api
        .http
        .put(api.url("/triggers"))
        .json(&body)
        .send()
        .await?;
    let conflict = expect(again, StatusCode::CONFLICT).await?;
    assert!(
        conflict["message"]
            .as_str()
            .unwrap()
            .contains("backfill running or paused")
    );

    let paused = api
        .http
        .put(api.url("/triggers/backfill/pause"))
        .json(&green())
        .send()
        .await?;
    assert_eq!(
        expect(paused, StatusCode::OK).await?["backfill"]["paused"],
        true
    );
    let resumed = api
        .http
        .put(api.url("/triggers/backfill/unpause"))
        .json(&green())
        .send()
        .await?;
    assert_eq!(
        expect(resumed, StatusCode::OK).await?["backfill"]["state"],
        "RUNNING"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let (_, trigger) = api.get("/triggers/zoomcamp/taxi/green_schedule").await?;
        if trigger["backfill"]["ended"] == 3 {
            break trigger;
        }
        anyhow::ensure!(Instant::now() < deadline, "backfill not done: {trigger}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["backfill"]["state"], "DONE");
    let (_, found) = api
        .get("/executions/search?namespace=zoomcamp&labels=backfill:true&labels=source:api")
        .await?;
    let mut months: Vec<String> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["trigger"]["date"].as_str().unwrap()[..7].to_owned())
        .collect();
    months.sort();
    assert_eq!(months, ["2021-01", "2021-02", "2021-03"]);

    let cancel = api
        .http
        .post(api.url("/triggers/backfill/delete"))
        .json(&green())
        .send()
        .await?;
    let none = expect(cancel, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert!(
        none["message"]
            .as_str()
            .unwrap()
            .contains("no running or paused backfill")
    );
    body["backfill"]["start"] = json!("March 1st");
    let bad = api
        .http
        .put(api.url("/triggers"))
        .json(&body)
        .send()
        .await?;
    let refused = expect(bad, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("cannot read 'March 1st'")
    );
    Ok(())
}
