//! `baton trigger …` and `baton backfill …`: Schedule triggers and their backfills on a server.
//!
//! A trigger is named by `NAMESPACE FLOW TRIGGER`. Backfills belong to a trigger (one running
//! or paused at a time, as in Kestra), so they are named by their trigger too.

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{self, Client, Error, ServerArgs, out};

/// How often a followed backfill is read.
const PROGRESS_POLL: Duration = Duration::from_millis(500);
const BAR_WIDTH: usize = 30;

#[derive(Args, Clone, Debug)]
pub struct TriggerName {
    pub namespace: String,
    pub flow_id: String,
    pub trigger_id: String,
}

impl TriggerName {
    fn body(&self) -> Value {
        json!({"namespace": self.namespace, "flowId": self.flow_id, "triggerId": self.trigger_id})
    }

    fn path(&self) -> String {
        format!(
            "/api/v1/triggers/{}/{}/{}",
            self.namespace, self.flow_id, self.trigger_id
        )
    }
}

#[derive(Subcommand)]
pub enum TriggerCommand {
    /// List Schedule triggers with their next fire date and last execution.
    List {
        /// Only this namespace (and the namespaces under it).
        #[arg(long)]
        namespace: Option<String>,
        /// Only this flow.
        #[arg(long)]
        flow: Option<String>,
    },
    /// Enable a trigger; it resumes at its next date (the disabled period is not replayed).
    Enable(TriggerName),
    /// Disable a trigger.
    Disable(TriggerName),
    /// Start an execution now with the trigger's inputs (`trigger.date` is now).
    Run(TriggerName),
}

#[derive(Subcommand)]
pub enum BackfillCommand {
    /// Create executions for a trigger's past dates, one at a time in order, and follow them.
    Start {
        #[command(flatten)]
        trigger: TriggerName,
        /// The first date: 2021-01-01, 2021-01-01T09:00:00 (in the trigger's zone) or RFC 3339.
        #[arg(long)]
        start: String,
        /// The last date, included (a date alone means its end); now when absent.
        #[arg(long)]
        end: Option<String>,
        /// An input overriding the trigger's, KEY=VALUE (repeatable).
        #[arg(long = "input", value_name = "KEY=VALUE", value_parser = key_value)]
        inputs: Vec<(String, String)>,
        /// A label added to every execution, KEY=VALUE (repeatable); `backfill: true` always is.
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = key_value)]
        labels: Vec<(String, String)>,
        /// Start it and return instead of following its progress.
        #[arg(long)]
        detach: bool,
    },
    /// Show the trigger's latest backfill; with --follow, until it is done.
    Status {
        #[command(flatten)]
        trigger: TriggerName,
        #[arg(long)]
        follow: bool,
    },
    /// Pause the running backfill (the execution in progress finishes).
    Pause(TriggerName),
    /// Resume the paused backfill.
    Resume(TriggerName),
    /// Cancel the backfill; executions already created are left as they are.
    Cancel(TriggerName),
}

fn text_map(pairs: Vec<(String, String)>) -> serde_json::Map<String, Value> {
    pairs
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect()
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

pub fn run_trigger(command: TriggerCommand, server: &ServerArgs) -> ExitCode {
    let server = server.clone();
    client::block_on(async move {
        let client = Client::new(&server)?;
        match command {
            TriggerCommand::List { namespace, flow } => list(&client, namespace, flow).await,
            TriggerCommand::Enable(name) => set_disabled(&client, &name, false).await,
            TriggerCommand::Disable(name) => set_disabled(&client, &name, true).await,
            TriggerCommand::Run(name) => {
                let path = format!("{}/run", name.path());
                let execution: Value = client.json(client.request(Method::POST, &path)).await?;
                out!("{}", execution["id"].as_str().unwrap_or_default());
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

async fn list(
    client: &Client,
    namespace: Option<String>,
    flow: Option<String>,
) -> Result<ExitCode, Error> {
    let mut query = Vec::new();
    query.extend(namespace.map(|n| ("namespace", n)));
    query.extend(flow.map(|f| ("flowId", f)));
    let request = client
        .request(Method::GET, "/api/v1/triggers/search")
        .query(&query);
    let body: Value = client.json(request).await?;
    let rows: Vec<[String; 5]> = body["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
            let last = match (t["executionId"].as_str(), t["executionState"].as_str()) {
                (Some(id), Some(state)) => format!("{id} {state}"),
                _ => "-".to_owned(),
            };
            [
                format!(
                    "{}.{}.{}",
                    text(&t["namespace"]),
                    text(&t["flowId"]),
                    text(&t["triggerId"])
                ),
                format!("{} {}", text(&t["cron"]), text(&t["timezone"])),
                if t["disabled"] == true {
                    "disabled".to_owned()
                } else {
                    text(&t["nextExecutionDate"])
                },
                last,
                backfill_summary(&t["backfill"]),
            ]
        })
        .collect();
    let header = ["TRIGGER", "SCHEDULE", "NEXT", "LAST EXECUTION", "BACKFILL"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out!("{}", cells.join("  ").trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

fn backfill_summary(backfill: &Value) -> String {
    match backfill["state"].as_str() {
        Some(state) => format!("{state} {}/{}", backfill["created"], backfill["total"]),
        None => "-".to_owned(),
    }
}

async fn set_disabled(
    client: &Client,
    name: &TriggerName,
    disabled: bool,
) -> Result<ExitCode, Error> {
    let mut body = name.body();
    body["disabled"] = json!(disabled);
    let trigger: Value = client
        .json(client.request(Method::PUT, "/api/v1/triggers").json(&body))
        .await?;
    if disabled {
        out!(
            "{}.{}.{} disabled",
            name.namespace,
            name.flow_id,
            name.trigger_id
        );
    } else {
        out!(
            "{}.{}.{} enabled; next {}",
            name.namespace,
            name.flow_id,
            name.trigger_id,
            trigger["nextExecutionDate"].as_str().unwrap_or("none")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_backfill(command: BackfillCommand, server: &ServerArgs) -> ExitCode {
    let server = server.clone();
    client::block_on(async move {
        let client = Client::new(&server)?;
        match command {
            BackfillCommand::Start {
                trigger,
                start,
                end,
                inputs,
                labels,
                detach,
            } => {
                let mut body = trigger.body();
                body["backfill"] = json!({
                    "start": start,
                    "end": end,
                    "inputs": text_map(inputs),
                    "labels": text_map(labels),
                });
                let view: Value = client
                    .json(client.request(Method::PUT, "/api/v1/triggers").json(&body))
                    .await?;
                let backfill = &view["backfill"];
                out!(
                    "backfill {}: {} date(s) from {} to {}",
                    backfill["id"].as_str().unwrap_or_default(),
                    backfill["total"],
                    backfill["start"].as_str().unwrap_or_default(),
                    backfill["end"].as_str().unwrap_or_default()
                );
                if detach {
                    return Ok(ExitCode::SUCCESS);
                }
                follow(&client, &trigger).await
            }
            BackfillCommand::Status {
                trigger,
                follow: true,
            } => follow(&client, &trigger).await,
            BackfillCommand::Status { trigger, .. } => {
                let view: Value = client
                    .json(client.request(Method::GET, &trigger.path()))
                    .await?;
                match view["backfill"].as_object() {
                    Some(_) => out!("{}", progress_line(&view["backfill"])),
                    None => out!("no backfill"),
                }
                Ok(ExitCode::SUCCESS)
            }
            BackfillCommand::Pause(trigger) => change(&client, &trigger, "PUT", "pause").await,
            BackfillCommand::Resume(trigger) => change(&client, &trigger, "PUT", "unpause").await,
            BackfillCommand::Cancel(trigger) => change(&client, &trigger, "POST", "delete").await,
        }
    })
}

async fn change(
    client: &Client,
    trigger: &TriggerName,
    method: &str,
    action: &str,
) -> Result<ExitCode, Error> {
    let method = if method == "PUT" {
        Method::PUT
    } else {
        Method::POST
    };
    let path = format!("/api/v1/triggers/backfill/{action}");
    let view: Value = client
        .json(client.request(method, &path).json(&trigger.body()))
        .await?;
    out!("{}", progress_line(&view["backfill"]));
    Ok(ExitCode::SUCCESS)
}

/// Redraws the progress until the backfill is done (exit 0) or cancelled (exit 1). On a
/// terminal the line is redrawn in place; otherwise a line is printed when it changes.
async fn follow(client: &Client, trigger: &TriggerName) -> Result<ExitCode, Error> {
    let terminal = std::io::stdout().is_terminal();
    let mut last = String::new();
    loop {
        let view: Value = client
            .json(client.request(Method::GET, &trigger.path()))
            .await?;
        let backfill = &view["backfill"];
        let line = progress_line(backfill);
        if line != last {
            if terminal {
                let mut stdout = std::io::stdout().lock();
                let _ = write!(stdout, "\r\x1b[2K{line}");
                let _ = stdout.flush();
            } else {
                out!("{line}");
            }
            last = line;
        }
        let state = backfill["state"].as_str().unwrap_or_default();
        let finished = backfill["ended"] == backfill["total"];
        if (state == "DONE" && finished) || state == "CANCELLED" || backfill.is_null() {
            if terminal {
                out!("");
            }
            return Ok(if state == "CANCELLED" {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        tokio::time::sleep(PROGRESS_POLL).await;
    }
}

/// `[##########....................] 3/7 created, 2 ended  RUNNING  next 2021-04-01T09:00:00+02:00`
fn progress_line(backfill: &Value) -> String {
    if backfill.is_null() {
        return "no backfill".to_owned();
    }
    let total = backfill["total"].as_u64().unwrap_or(0);
    let created = backfill["created"].as_u64().unwrap_or(0);
    let ended = backfill["ended"].as_u64().unwrap_or(0);
    // An empty backfill is complete.
    let filled = (ended * BAR_WIDTH as u64)
        .checked_div(total)
        .map_or(BAR_WIDTH, |filled| {
            usize::try_from(filled).unwrap_or(BAR_WIDTH)
        })
        .min(BAR_WIDTH);
    let mut line = format!(
        "[{}{}] {created}/{total} created, {ended} ended  {}",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        backfill["state"].as_str().unwrap_or("?")
    );
    if let Some(next) = backfill["currentDate"].as_str() {
        line.push_str(&format!("  next {next}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_bar_fills_with_ended_executions() {
        let half = json!({"total": 4, "created": 3, "ended": 2, "state": "RUNNING",
            "currentDate": "2021-04-01T09:00:00+02:00"});
        assert_eq!(
            progress_line(&half),
            format!(
                "[{}{}] 3/4 created, 2 ended  RUNNING  next 2021-04-01T09:00:00+02:00",
                "#".repeat(15),
                ".".repeat(15)
            )
        );
        let empty = json!({"total": 0, "created": 0, "ended": 0, "state": "DONE"});
        assert!(progress_line(&empty).starts_with(&format!("[{}]", "#".repeat(BAR_WIDTH))));
    }
}
