//! `baton sys …`: administration of a server. `purge` deletes ended executions (rows, logs,
//! queue messages, files) or only old log lines, through `POST /api/v1/sys/purge`.

use std::process::ExitCode;

use chrono::Utc;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

use crate::client::{self, Client, ServerArgs, out};

#[derive(Subcommand)]
pub enum SysCommand {
    /// Delete ended executions older than an age, with their logs and files (or only logs).
    /// Running, queued and paused executions are never deleted.
    Purge(PurgeArgs),
}

#[derive(Args)]
pub struct PurgeArgs {
    /// Executions that ended (or, with --logs-only, lines written) longer ago than this:
    /// 30d, 12h, 90m, 2w, P30D or seconds.
    #[arg(long, value_name = "AGE", value_parser = crate::config::age::parse)]
    older_than: std::time::Duration,
    /// Only this namespace (and the namespaces under it).
    #[arg(long)]
    namespace: Option<String>,
    /// Only this flow.
    #[arg(long = "flow", value_name = "ID")]
    flow_id: Option<String>,
    /// Only executions in this state (repeatable): SUCCESS, WARNING, FAILED, KILLED, CANCELLED,
    /// SKIPPED.
    #[arg(long = "state", value_name = "STATE")]
    states: Vec<String>,
    /// Keep the executions, delete only their log lines older than the age.
    #[arg(long, conflicts_with = "states")]
    logs_only: bool,
    /// Count what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(command: SysCommand, server: &ServerArgs) -> ExitCode {
    let server = server.clone();
    client::block_on(async move {
        let client = Client::new(&server)?;
        match command {
            SysCommand::Purge(args) => purge(&client, args).await,
        }
    })
}

async fn purge(client: &Client, args: PurgeArgs) -> Result<ExitCode, client::Error> {
    let age = chrono::Duration::from_std(args.older_than).unwrap_or(chrono::Duration::MAX);
    let before = Utc::now()
        .checked_sub_signed(age)
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
    let mut query = vec![("endedBefore", before.to_rfc3339())];
    query.extend(args.namespace.map(|n| ("namespace", n)));
    query.extend(args.flow_id.map(|f| ("flowId", f)));
    query.extend(args.states.into_iter().map(|s| ("state", s)));
    if args.logs_only {
        query.push(("logsOnly", "true".into()));
    }
    if args.dry_run {
        query.push(("dryRun", "true".into()));
    }
    let request = client
        .request(Method::POST, "/api/v1/sys/purge")
        .query(&query);
    let report: Value = client.json(request).await?;
    let count = |key: &str| report[key].as_u64().unwrap_or_default();
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    if args.logs_only {
        out!(
            "{verb} {} log line(s) written before {before}",
            count("logs")
        );
    } else if args.dry_run {
        out!(
            "{verb} {} execution(s) ended before {before}, with their logs and files",
            count("executions")
        );
    } else {
        out!(
            "{verb} {} execution(s) ended before {before}: {} log line(s), {} file(s)",
            count("executions"),
            count("logs"),
            count("files")
        );
    }
    Ok(ExitCode::SUCCESS)
}
