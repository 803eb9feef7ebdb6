//! `baton execution …`: run an execution on a server and watch it, read its logs, kill,
//! restart or resume it.
//!
//! Watching (`run --wait`, `logs --follow`) reads the log stream (`/api/v1/logs/{id}/follow`,
//! Server-Sent Events) for the lines and its end; `run --wait` also polls the execution
//! document for task run state changes, which the stream does not carry.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use clap::Subcommand;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::client::{self, Client, Error, ServerArgs, out};

/// The exit code of `run --wait` when the execution ended WARNING.
const WARNING_EXIT: u8 = 3;

/// How often `run --wait` reads the execution document for task run state changes.
const STATE_POLL: Duration = Duration::from_millis(250);

#[derive(Subcommand)]
pub enum ExecutionCommand {
    /// Start an execution of a flow and print its id; with --wait, follow it to the end.
    Run {
        namespace: String,
        flow_id: String,
        /// An input, KEY=VALUE (repeatable); the server coerces the text to the input's type.
        #[arg(long = "input", value_name = "KEY=VALUE", value_parser = key_value)]
        inputs: Vec<(String, String)>,
        /// A label, KEY=VALUE (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = key_value)]
        labels: Vec<(String, String)>,
        /// Print task run states and logs as they come; exit 0 on SUCCESS, 3 on WARNING (only
        /// allowed failures), 1 on any other final state.
        #[arg(long)]
        wait: bool,
    },
    /// Print an execution's logs: timestamp level taskId message.
    Logs {
        id: String,
        /// Keep printing new lines until the execution ends.
        #[arg(long)]
        follow: bool,
    },
    /// Kill a running execution (its running tasks are stopped).
    Kill { id: String },
    /// Run a failed or killed execution again from what failed, under the same id.
    Restart { id: String },
    /// Resume a paused execution.
    Resume { id: String },
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

pub fn run(command: ExecutionCommand, server: &ServerArgs) -> ExitCode {
    let server = server.clone();
    client::block_on(async move {
        let client = Client::new(&server)?;
        let style = Style::for_stdout();
        match command {
            ExecutionCommand::Run {
                namespace,
                flow_id,
                inputs,
                labels,
                wait,
            } => run_execution(&client, style, &namespace, &flow_id, inputs, labels, wait).await,
            ExecutionCommand::Logs { id, follow } => logs(&client, style, &id, follow).await,
            ExecutionCommand::Kill { id } => {
                let path = format!("/api/v1/executions/{id}/kill");
                let before: ExecutionView =
                    client.json(client.request(Method::DELETE, &path)).await?;
                out!("execution {id}: kill requested (it was {})", before.state);
                Ok(ExitCode::SUCCESS)
            }
            ExecutionCommand::Restart { id } => {
                let path = format!("/api/v1/executions/{id}/restart");
                let _: ExecutionView = client.json(client.request(Method::POST, &path)).await?;
                out!("execution {id}: restart requested");
                Ok(ExitCode::SUCCESS)
            }
            ExecutionCommand::Resume { id } => {
                let path = format!("/api/v1/executions/{id}/resume");
                let _: ExecutionView = client.json(client.request(Method::POST, &path)).await?;
                out!("execution {id}: resume requested");
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

async fn run_execution(
    client: &Client,
    style: Style,
    namespace: &str,
    flow_id: &str,
    inputs: Vec<(String, String)>,
    labels: Vec<(String, String)>,
    wait: bool,
) -> Result<ExitCode, Error> {
    let body: serde_json::Map<String, Value> = inputs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let labels: Vec<(&str, String)> = labels
        .iter()
        .map(|(k, v)| ("labels", format!("{k}:{v}")))
        .collect();
    let request = client
        .request(
            Method::POST,
            &format!("/api/v1/executions/{namespace}/{flow_id}"),
        )
        .query(&labels)
        .json(&body);
    let created: ExecutionView = client.json(request).await?;
    out!("{}", created.id);
    if !wait {
        return Ok(ExitCode::SUCCESS);
    }
    let end = watch(client, style, &created.id, true).await?;
    Ok(match end.as_str() {
        "SUCCESS" => ExitCode::SUCCESS,
        // Every failure was allowed (`allowFailure`): not a failed run, but not the clean one
        // a script checks for with 0 either; its own code lets a script accept it.
        "WARNING" => ExitCode::from(WARNING_EXIT),
        _ => ExitCode::FAILURE,
    })
}

async fn logs(client: &Client, style: Style, id: &str, follow: bool) -> Result<ExitCode, Error> {
    if follow {
        watch(client, style, id, false).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut after = String::from("0");
    loop {
        let request = client
            .request(Method::GET, &format!("/api/v1/logs/{id}"))
            .query(&[("after", after.as_str()), ("limit", "1000")]);
        let page: LogPage = client.json(request).await?;
        for line in &page.results {
            out!("{}", style.log_line(line, TimeFormat::Full));
        }
        match page.next {
            Some(next) if !page.results.is_empty() && next != after => after = next,
            _ => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// Prints the execution's log lines as they come (and, with `task_states`, each task run state
/// change) until it ends; answers its final state.
async fn watch(
    client: &Client,
    style: Style,
    id: &str,
    task_states: bool,
) -> Result<String, Error> {
    // The stream is read by its own task, so reading it never waits on a state poll.
    let response = client
        .send(client.request(Method::GET, &format!("/api/v1/logs/{id}/follow")))
        .await?;
    let (events, mut received) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_events(response, events));
    let time = if task_states {
        TimeFormat::Clock
    } else {
        TimeFormat::Full
    };
    let mut printed = PrintedStates::default();
    // With task states, lines and state changes wait for the next poll and are printed in
    // the order they happened, as the two come from different reads.
    let mut pending: Vec<(DateTime<Utc>, String)> = Vec::new();
    let mut poll = tokio::time::interval(STATE_POLL);
    let mut end = None;
    loop {
        tokio::select! {
            event = received.recv() => match event {
                Some(StreamEvent::Line(line)) if task_states => {
                    pending.push((line.timestamp, style.log_line(&line, time)));
                }
                Some(StreamEvent::Line(line)) => out!("{}", style.log_line(&line, time)),
                Some(StreamEvent::End(state)) => {
                    end = Some(state);
                    break;
                }
                Some(StreamEvent::Failed(message)) => {
                    eprintln!("warning: the log stream stopped: {message}");
                    break;
                }
                None => break,
            },
            _ = poll.tick(), if task_states => {
                let execution = read_execution(client, id).await?;
                pending.extend(printed.new_changes(&execution, style));
                flush(&mut pending);
            }
        }
    }
    reader.abort();
    // Without an end event (the stream broke), the execution document says when it ends.
    let execution = loop {
        let execution = read_execution(client, id).await?;
        if task_states {
            pending.extend(printed.new_changes(&execution, style));
            flush(&mut pending);
        }
        if end.is_some() || is_terminal(&execution.state) {
            break execution;
        }
        tokio::time::sleep(STATE_POLL).await;
    };
    let state = execution.state;
    if task_states {
        let reason = execution
            .error
            .map(|error| format!(": {error}"))
            .unwrap_or_default();
        out!("execution {id} {}{reason}", style.state(&state));
    }
    Ok(state)
}

/// Prints what is pending, oldest first.
fn flush(pending: &mut Vec<(DateTime<Utc>, String)>) {
    pending.sort_by_key(|(at, _)| *at);
    for (_, line) in pending.drain(..) {
        out!("{line}");
    }
}

async fn read_execution(client: &Client, id: &str) -> Result<ExecutionView, Error> {
    client
        .json(client.request(Method::GET, &format!("/api/v1/executions/{id}")))
        .await
}

fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "SUCCESS" | "WARNING" | "FAILED" | "KILLED" | "CANCELLED" | "SKIPPED"
    )
}

/// What the log stream says.
enum StreamEvent {
    Line(LogLine),
    /// The execution ended in this state and every line was sent.
    End(String),
    /// The server reported an error in the stream, or the connection broke.
    Failed(String),
}

/// Reads Server-Sent Events: `data:` lines make one event, a blank line ends it.
async fn read_events(mut response: reqwest::Response, events: mpsc::UnboundedSender<StreamEvent>) {
    let mut pending = Vec::<u8>::new();
    let mut kind = String::new();
    let mut data = String::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return,
            Err(error) => {
                let _ = events.send(StreamEvent::Failed(error.to_string()));
                return;
            }
        };
        pending.extend_from_slice(&chunk);
        while let Some(newline) = pending.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = pending.drain(..=newline).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                let event = dispatch(&kind, &data);
                kind.clear();
                data.clear();
                let Some(event) = event else { continue };
                let last = !matches!(event, StreamEvent::Line(_));
                if events.send(event).is_err() || last {
                    return;
                }
            } else if let Some(value) = field(line, "event") {
                kind = value.to_owned();
            } else if let Some(value) = field(line, "data") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            // `id:`, `retry:` and `:` comments (keep-alives) carry nothing the client uses.
        }
    }
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let value = line.strip_prefix(name)?.strip_prefix(':')?;
    Some(value.strip_prefix(' ').unwrap_or(value))
}

fn dispatch(kind: &str, data: &str) -> Option<StreamEvent> {
    if data.is_empty() {
        return None;
    }
    let value: Value = serde_json::from_str(data).ok()?;
    match kind {
        "end" => Some(StreamEvent::End(
            value.get("state")?.as_str().unwrap_or("UNKNOWN").to_owned(),
        )),
        "error" => Some(StreamEvent::Failed(
            value.get("message")?.as_str().unwrap_or(data).to_owned(),
        )),
        _ => serde_json::from_value(value).ok().map(StreamEvent::Line),
    }
}

/// The parts of the execution document the commands print.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionView {
    id: String,
    state: String,
    #[serde(default)]
    task_runs: Vec<TaskRunView>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskRunView {
    id: String,
    task_id: String,
    /// The ForEach value the task run belongs to.
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    history: Vec<StateChangeView>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct StateChangeView {
    state: String,
    at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogLine {
    #[serde(default)]
    task_id: Option<String>,
    level: String,
    timestamp: DateTime<Utc>,
    message: String,
}

#[derive(Deserialize)]
struct LogPage {
    results: Vec<LogLine>,
    next: Option<String>,
}

/// How many state changes of each task run were printed already.
#[derive(Default)]
struct PrintedStates(HashMap<String, usize>);

impl PrintedStates {
    /// The state changes not printed yet, as `(when, line)`.
    fn new_changes(
        &mut self,
        execution: &ExecutionView,
        style: Style,
    ) -> Vec<(DateTime<Utc>, String)> {
        let mut lines = Vec::new();
        for run in &execution.task_runs {
            let printed = self.0.entry(run.id.clone()).or_default();
            for change in run.history.iter().skip(*printed) {
                // CREATED comes right before RUNNING for every task run: it is only noise.
                if change.state == "CREATED" {
                    continue;
                }
                let name = match &run.value {
                    Some(value) => format!("{} [{value}]", run.task_id),
                    None => run.task_id.clone(),
                };
                let reason = match (&run.error, is_terminal(&change.state)) {
                    (Some(error), true) => format!(": {error}"),
                    _ => String::new(),
                };
                let line = format!(
                    "{} {} {name}{reason}",
                    style.time(change.at, TimeFormat::Clock),
                    style.state(&format!("{:<8}", change.state)),
                );
                lines.push((change.at, line));
            }
            *printed = run.history.len();
        }
        lines
    }
}

#[derive(Clone, Copy)]
enum TimeFormat {
    /// `12:00:01.123`, local time: for watching an execution now.
    Clock,
    /// `2025-01-31T12:00:01.123Z`: for logs read later.
    Full,
}

/// ANSI colours on a terminal, plain text elsewhere (pipes, files, tests).
#[derive(Clone, Copy)]
struct Style {
    color: bool,
}

impl Style {
    fn for_stdout() -> Self {
        Self {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn time(self, at: DateTime<Utc>, format: TimeFormat) -> String {
        let text = match format {
            TimeFormat::Clock => at.with_timezone(&Local).format("%H:%M:%S%.3f").to_string(),
            TimeFormat::Full => at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        };
        self.paint("2", &text)
    }

    /// A state, padded by the caller; green for success, red for failures.
    fn state(self, padded: &str) -> String {
        let code = match padded.trim_end() {
            "SUCCESS" => "32",
            "WARNING" | "RETRYING" | "PAUSED" => "33",
            "FAILED" | "KILLED" | "KILLING" | "CANCELLED" => "31",
            "RUNNING" => "34",
            _ => "0",
        };
        self.paint(code, padded)
    }

    fn log_line(self, line: &LogLine, format: TimeFormat) -> String {
        let level = format!("{:<5}", line.level);
        let level = match line.level.as_str() {
            "ERROR" => self.paint("31", &level),
            "WARN" => self.paint("33", &level),
            "DEBUG" | "TRACE" => self.paint("2", &level),
            _ => level,
        };
        format!(
            "{} {level} {} {}",
            self.time(line.timestamp, format),
            line.task_id.as_deref().unwrap_or("-"),
            line.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_reads_lines_and_the_end() {
        let line =
            r#"{"taskId":"t","level":"INFO","timestamp":"2025-01-31T12:00:01.5Z","message":"hi"}"#;
        let Some(StreamEvent::Line(line)) = dispatch("", line) else {
            panic!("a log line");
        };
        assert_eq!(
            Style { color: false }.log_line(&line, TimeFormat::Full),
            "2025-01-31T12:00:01.500Z INFO  t hi"
        );
        let Some(StreamEvent::End(state)) = dispatch("end", r#"{"state":"FAILED"}"#) else {
            panic!("the end");
        };
        assert_eq!(state, "FAILED");
        assert!(dispatch("", "").is_none());
    }

    #[test]
    fn key_value_needs_a_key() {
        assert_eq!(key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(key_value("=x").is_err());
        assert!(key_value("x").is_err());
    }
}
