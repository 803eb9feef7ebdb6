//! The Triggers pages in a real headless Chromium on `baton server local` (which runs a
//! scheduler): a refused backfill keeps what was typed; a 3-month backfill of a monthly
//! schedule started from the flow's Triggers tab creates three executions, one per month,
//! with the trigger's inputs and the `backfill` label.

use std::time::{Duration, Instant};

use thirtyfour::prelude::*;

use crate::browser::{PASSWORD, Session, USER};

/// The seeds' flow 05 shape: a monthly schedule choosing the month with `trigger.date`, one
/// execution at a time.
const MONTHLY: &str = r#"id: taxi_monthly
namespace: zoomcamp
concurrency:
  limit: 1
inputs:
  - id: taxi
    type: SELECT
    values: [green, yellow]
    defaults: yellow
tasks:
  - id: file
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.taxi }}_tripdata_{{ trigger.date | date('yyyy-MM') }}.csv"
triggers:
  - id: green_schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 1 * *"
    inputs:
      taxi: green
"#;

/// Sets a form field's value as a person's typing would leave it (date pickers take typed
/// keys in the browser's locale order, which a test should not depend on).
async fn fill(session: &Session, css: &str, value: &str) -> anyhow::Result<()> {
    let field = session.wait_for_css(css).await?;
    session
        .driver
        .execute(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));",
            vec![
                field.to_json()?,
                serde_json::Value::String(value.to_owned()),
            ],
        )
        .await?;
    Ok(())
}

async fn submit_backfill(session: &Session) -> anyhow::Result<()> {
    session
        .wait_for_css(".backfill-form button[type=submit]")
        .await?
        .click()
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_month_backfill_from_the_triggers_tab_creates_three_executions()
-> anyhow::Result<()> {
    let session = Session::start(1280, 900).await?;
    session.log_in().await?;
    session.open("/ui/flows/new").await?;
    session.save_source(MONTHLY).await?;
    session.wait_for_css("table.code").await?;

    // The scheduler syncs the flow's trigger shortly after the deploy.
    let started = Instant::now();
    loop {
        session
            .open("/ui/flows/zoomcamp/taxi_monthly/triggers")
            .await?;
        if !session
            .driver
            .find_all(By::Css("tr[data-trigger=green_schedule]"))
            .await?
            .is_empty()
        {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the trigger never showed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let inputs = session
        .wait_for_css("#bf-inputs-green_schedule")
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    assert!(
        inputs.contains("\"green\""),
        "the trigger's inputs: {inputs}"
    );

    // Refused: the end is before the start. The form comes back with what was typed.
    fill(&session, "#bf-start-green_schedule", "2021-04-01T00:00").await?;
    fill(&session, "#bf-end-green_schedule", "2021-01-01T00:00").await?;
    fill(&session, "#bf-labels-green_schedule", "origin:ui").await?;
    submit_backfill(&session).await?;
    let error = session.wait_for_css(".backfill-form .error").await?;
    assert!(
        error.text().await?.contains("before it starts"),
        "{}",
        error.text().await?
    );
    let kept = session
        .wait_for_css("#bf-labels-green_schedule")
        .await?
        .prop("value")
        .await?;
    assert_eq!(kept.as_deref(), Some("origin:ui"));

    fill(&session, "#bf-start-green_schedule", "2021-01-01T00:00").await?;
    fill(&session, "#bf-end-green_schedule", "2021-03-31T23:59").await?;
    submit_backfill(&session).await?;
    session.wait_for_css(".backfill-progress").await?;
    session.screenshot("backfill-running").await?;

    // The tab shows progress; reload until every date has an ended execution.
    let started = Instant::now();
    loop {
        session
            .open("/ui/flows/zoomcamp/taxi_monthly/triggers")
            .await?;
        let cell = session
            .wait_for_css("tr[data-trigger=green_schedule] [data-backfill]")
            .await?
            .text()
            .await?;
        if cell.contains("3/3 created, 3 ended") {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the backfill did not finish: {cell}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    session.screenshot("triggers").await?;

    session
        .open("/ui/executions?namespace=zoomcamp&flowId=taxi_monthly&labels=backfill:true")
        .await?;
    let started = Instant::now();
    loop {
        let rows = session
            .driver
            .find_all(By::Css("tbody[data-rows] tr"))
            .await?;
        let mut succeeded = 0;
        for row in &rows {
            if row.text().await?.contains("SUCCESS") {
                succeeded += 1;
            }
        }
        if rows.len() == 3 && succeeded == 3 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "expected 3 successful backfill executions, the list has {} rows",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        session.driver.refresh().await?;
    }
    // One execution per month, each with the trigger's inputs and its own trigger.date.
    let api = |path: &str| {
        reqwest::Client::new()
            .get(format!("{}/api/v1{path}", session.base))
            .basic_auth(USER, Some(PASSWORD))
    };
    let found: serde_json::Value =
        api("/executions/search?flowId=taxi_monthly&labels=backfill:true")
            .send()
            .await?
            .json()
            .await?;
    let mut files = Vec::new();
    for execution in found["results"].as_array().into_iter().flatten() {
        let logs: serde_json::Value = api(&format!("/logs/{}", execution["id"].as_str().unwrap()))
            .send()
            .await?
            .json()
            .await?;
        for line in logs["results"].as_array().into_iter().flatten() {
            files.push(line["message"].as_str().unwrap_or_default().to_owned());
        }
    }
    files.sort();
    assert_eq!(
        files,
        [
            "green_tripdata_2021-01.csv",
            "green_tripdata_2021-02.csv",
            "green_tripdata_2021-03.csv"
        ]
    );
    session.open("/ui/triggers").await?;
    session
        .wait_for_css("tr[data-trigger=green_schedule]")
        .await?;
    session.quit().await
}
