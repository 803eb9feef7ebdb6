//! The Postgres tasks (`io.kestra.plugin.jdbc.postgresql.*`), run against the user's database
//! — never Baton's own: `postgres.queries`/`postgres.query` (`queries.rs`), `postgres.copy_in`
//! and `postgres.copy_out` (`copy.rs`). One connection per task run (`connect.rs` reads the
//! JDBC URL and TLS options), closed when the run ends.
//!
//! A kill (or the task's `timeout`) drops the connection and asks the server, from a second
//! connection, to cancel the query the first one left running (`pg_cancel_backend`), since a
//! backend only notices a closed socket when it next writes.
//!
//! SQL errors are logged at ERROR with the server's message, its SQLSTATE, the line and column
//! in the task's `sql` and the line itself, then fail the task.

mod cells;
mod connect;
mod copy;
mod queries;

use std::time::Duration;

use baton_core::flow::props::JdbcConnection;
use baton_core::flow::task::LogLevel;
use sqlx::postgres::PgDatabaseError;
use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;

use crate::{RunContext, TaskOutcome, render};

pub(crate) use copy::{copy_in, copy_out};
pub(crate) use queries::{Statements, queries};

/// How long a kill waits for the server to acknowledge the cancel.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// Renders the connection properties, connects, runs `work` on the connection until it ends or
/// the run is cancelled, and turns its error into a failed outcome.
async fn with_connection<F>(
    connection: &JdbcConnection,
    run: &RunContext,
    cancel: &CancellationToken,
    work: F,
) -> TaskOutcome
where
    F: AsyncFnOnce(&mut PgConnection) -> Result<TaskOutcome, String>,
{
    let connection = match render::props(connection, run) {
        Ok(connection) => connection,
        Err(error) => return TaskOutcome::failed(error),
    };
    let target = match connect::target(&connection) {
        Ok(target) => target,
        Err(error) => return TaskOutcome::failed(error),
    };
    for key in &target.ignored {
        run.logs.log(
            LogLevel::Warn,
            format!("url parameter '{key}' is not used by Baton and was ignored"),
        );
    }
    let opened = tokio::select! {
        opened = open(&target) => opened,
        () = cancel.cancelled() => return TaskOutcome::killed(),
    };
    let (mut conn, pid) = match opened {
        Ok(opened) => opened,
        Err(error) => return TaskOutcome::failed(error),
    };
    let finished = tokio::select! {
        result = work(&mut conn) => Some(result),
        () = cancel.cancelled() => None,
    };
    match finished {
        Some(result) => {
            // A failed close leaves nothing to undo: the server ends the session either way.
            let _ = conn.close().await;
            result.unwrap_or_else(TaskOutcome::failed)
        }
        None => {
            drop(conn);
            if let Err(error) = cancel_backend(&target, pid).await {
                run.logs.log(
                    LogLevel::Warn,
                    format!("could not cancel the running query on the server: {error}"),
                );
            }
            TaskOutcome::killed()
        }
    }
}

async fn open(target: &connect::Target) -> Result<(PgConnection, i32), String> {
    let mut conn = PgConnection::connect_with(&target.options)
        .await
        .map_err(|e| format!("cannot connect to {}: {}", target.display, plain(&e)))?;
    let pid: i32 = sqlx::query_scalar(include_str!("sql/backend_pid.sql"))
        .fetch_one(&mut conn)
        .await
        .map_err(|e| format!("{}: {}", target.display, plain(&e)))?;
    Ok((conn, pid))
}

async fn cancel_backend(target: &connect::Target, pid: i32) -> Result<(), String> {
    let cancel = async {
        let mut conn = PgConnection::connect_with(&target.options)
            .await
            .map_err(|e| plain(&e))?;
        sqlx::query(include_str!("sql/cancel_backend.sql"))
            .bind(pid)
            .execute(&mut conn)
            .await
            .map_err(|e| plain(&e))?;
        let _ = conn.close().await;
        Ok(())
    };
    tokio::time::timeout(CANCEL_WAIT, cancel)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {CANCEL_WAIT:?}")))
}

/// An error without SQL context: the server's message, or the driver's.
fn plain(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(db) => db.message().to_owned(),
        None => error.to_string(),
    }
}

/// A SQL error as the task reports it, logged at ERROR first. `script` is the task's `sql` and
/// `offset` where in it the failing statement starts (a server position is counted from there).
fn sql_error(run: &RunContext, error: &sqlx::Error, script: &str, offset: usize) -> String {
    let Some(db) = error
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<PgDatabaseError>())
    else {
        let message = error.to_string();
        run.logs.log(LogLevel::Error, message.clone());
        return message;
    };
    let mut message = format!("ERROR {}: {}", db.code(), db.message());
    let mut lines = Vec::new();
    if let Some(sqlx::postgres::PgErrorPosition::Original(position)) = db.position() {
        let (line, column, text) = locate(script, offset, position);
        message.push_str(&format!(" (line {line}, column {column})"));
        lines.push(format!("  {line} | {text}"));
        let pad = " ".repeat(line.to_string().len() + 3 + column.saturating_sub(1));
        lines.push(format!("  {pad}^"));
    }
    for (label, value) in [
        ("DETAIL", db.detail()),
        ("HINT", db.hint()),
        ("WHERE", db.r#where()),
    ] {
        if let Some(value) = value {
            lines.push(format!("{label}: {value}"));
        }
    }
    let full = std::iter::once(message.clone())
        .chain(lines)
        .collect::<Vec<_>>()
        .join("\n");
    run.logs.log(LogLevel::Error, full.clone());
    full
}

/// The 1-based line and column, and the line's text, of the `position`-th character (1-based,
/// as the server counts) of the statement starting at byte `offset` of `script`.
fn locate(script: &str, offset: usize, position: usize) -> (usize, usize, &str) {
    let statement = &script[offset.min(script.len())..];
    let at = offset
        + statement
            .char_indices()
            .nth(position.saturating_sub(1))
            .map_or(statement.len(), |(i, _)| i);
    let before = &script[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = script[line_start..at].chars().count() + 1;
    let line_end = script[line_start..]
        .find('\n')
        .map_or(script.len(), |i| line_start + i);
    (line, column, &script[line_start..line_end])
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn positions_map_to_lines_and_columns_of_the_script() {
        let script = "CREATE TABLE t (a int);\nSELECT a\n  FROM nope;";
        // The second statement starts at byte 24; "nope" is its 17th character.
        assert_eq!(locate(script, 24, 17), (3, 8, "  FROM nope;"));
        assert_eq!(locate(script, 0, 1), (1, 1, "CREATE TABLE t (a int);"));
    }
}
