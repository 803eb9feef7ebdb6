//! `postgres.copy_in` and `postgres.copy_out`: `COPY … FROM STDIN` fed from an internal-storage
//! file, and `COPY … TO STDOUT` into one, both streamed in the storage's chunks, so a file of any
//! size passes through a constant amount of memory.
//!
//! The statement is built as Kestra builds it: `table` and `columns` are SQL written by the flow
//! (names, possibly quoted or schema-qualified) and go into the statement as written, like the
//! `sql` of a query task; option values (`delimiter`, `quote`…) are quoted as SQL literals.

use baton_core::flow::props::{CopyFormat, CopyInProps, CopyOptions, CopyOutProps, JdbcConnection};
use baton_core::flow::task::LogLevel;
use futures_util::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{sql_error, with_connection};
use crate::{RunContext, TaskOutcome, render};

pub(crate) async fn copy_in(
    connection: &JdbcConnection,
    props: &CopyInProps,
    options: &CopyOptions,
    run: &RunContext,
    cancel: &CancellationToken,
) -> TaskOutcome {
    let (props, options) =
        match render::props(props, run).and_then(|p| Ok((p, render::props(options, run)?))) {
            Ok(both) => both,
            Err(error) => return TaskOutcome::failed(error),
        };
    let mut extra = Vec::new();
    if let Some(columns) = props.force_not_null.as_ref().filter(|c| !c.is_empty()) {
        extra.push(format!("FORCE_NOT_NULL ({})", columns.join(", ")));
    }
    if let Some(columns) = props.force_null.as_ref().filter(|c| !c.is_empty()) {
        extra.push(format!("FORCE_NULL ({})", columns.join(", ")));
    }
    if let Some(freeze) = props.freeze {
        extra.push(format!("FREEZE {freeze}"));
    }
    let statement = match statement(&props.table, &options, "FROM STDIN", extra) {
        Ok(statement) => statement,
        Err(error) => return TaskOutcome::failed(error),
    };
    with_connection(connection, run, cancel, async |conn| {
        let uri = run
            .readable_uri(&props.from)
            .map_err(|e| format!("from: {e}"))?;
        let mut download = run
            .storage()?
            .get_stream(&uri)
            .await
            .map_err(|e| format!("from: {e}"))?;
        run.logs
            .log(LogLevel::Debug, format!("Starting: {statement}"));
        let mut copy = conn
            .copy_in_raw(&statement)
            .await
            .map_err(|e| sql_error(run, &e, &statement, 0))?;
        while let Some(chunk) = download.chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    let reason = format!("from: {error}");
                    // The server discards what it received; its answer adds nothing.
                    let _ = copy.abort(reason.clone()).await;
                    return Err(reason);
                }
            };
            copy.send(chunk)
                .await
                .map_err(|e| sql_error(run, &e, &statement, 0))?;
        }
        let rows = copy
            .finish()
            .await
            .map_err(|e| sql_error(run, &e, &statement, 0))?;
        run.logs.log(
            LogLevel::Info,
            format!("{rows} row(s) copied into {} from {uri}", props.table),
        );
        Ok(TaskOutcome::success(json!({ "rowCount": rows })))
    })
    .await
}

pub(crate) async fn copy_out(
    connection: &JdbcConnection,
    props: &CopyOutProps,
    options: &CopyOptions,
    run: &RunContext,
    cancel: &CancellationToken,
) -> TaskOutcome {
    let (props, options) =
        match render::props(props, run).and_then(|p| Ok((p, render::props(options, run)?))) {
            Ok(both) => both,
            Err(error) => return TaskOutcome::failed(error),
        };
    let source = match (&props.sql, &props.table) {
        (Some(sql), _) => format!("({})", sql.trim().trim_end_matches(';')),
        (None, Some(table)) => table.clone(),
        (None, None) => return TaskOutcome::failed("sql or table: one of them is required"),
    };
    let mut extra = Vec::new();
    if let Some(columns) = props.force_quote.as_ref().filter(|c| !c.is_empty()) {
        extra.push(format!("FORCE_QUOTE ({})", columns.join(", ")));
    }
    // A query's columns are its own: `columns` applies to a table only.
    let options_for_source = CopyOptions {
        columns: if props.sql.is_some() {
            None
        } else {
            options.columns.clone()
        },
        ..options.clone()
    };
    let statement = match statement(&source, &options_for_source, "TO STDOUT", extra) {
        Ok(statement) => statement,
        Err(error) => return TaskOutcome::failed(error),
    };
    let format = options.format.unwrap_or(CopyFormat::Text);
    let header = options.header.unwrap_or(false);
    let quote = options
        .quote
        .as_deref()
        .and_then(|q| q.bytes().next())
        .unwrap_or(b'"');
    with_connection(connection, run, cancel, async |conn| {
        let storage = run.storage()?.clone();
        let (files, task_id, task_run_id) = run.task_run_files()?;
        let name = match format {
            CopyFormat::Csv => "data.csv",
            CopyFormat::Text => "data.txt",
            CopyFormat::Binary => "data.bin",
        };
        let uri = files
            .task_file(&task_id, &task_run_id, name)
            .map_err(|e| e.to_string())?;
        run.logs
            .log(LogLevel::Debug, format!("Starting: {statement}"));
        let stream = conn
            .copy_out_raw(&statement)
            .await
            .map_err(|e| sql_error(run, &e, &statement, 0))?;
        let mut lines = LineCounter::new(format, quote);
        let mut failure = None;
        let counted = stream.map(|chunk| {
            chunk.inspect(|bytes| lines.feed(bytes)).map_err(|e| {
                failure = Some(sql_error(run, &e, &statement, 0));
                "the COPY was interrupted"
            })
        });
        let stored = storage.put_stream(&uri, counted).await;
        if let Some(failure) = failure {
            return Err(failure);
        }
        let size = stored.map_err(|e| e.to_string())?;
        let mut outputs = json!({ "uri": uri.to_string() });
        if let Some(rows) = lines.rows(header) {
            outputs["rowCount"] = json!(rows);
        }
        run.logs.log(
            LogLevel::Info,
            format!("{size} byte(s) copied out to {uri}"),
        );
        Ok(TaskOutcome::success(outputs))
    })
    .await
}

/// `COPY {source} [({columns})] {direction} WITH (…)`.
fn statement(
    source: &str,
    options: &CopyOptions,
    direction: &str,
    extra: Vec<String>,
) -> Result<String, String> {
    if source.trim().is_empty() {
        return Err("table: missing".to_owned());
    }
    if options.oids == Some(true) {
        return Err("oids: WITH OIDS was removed in Postgres 12".to_owned());
    }
    let mut with = vec![format!(
        "FORMAT {}",
        match options.format.unwrap_or(CopyFormat::Text) {
            CopyFormat::Text => "text",
            CopyFormat::Csv => "csv",
            CopyFormat::Binary => "binary",
        }
    )];
    if let Some(header) = options.header {
        with.push(format!("HEADER {header}"));
    }
    for (name, value) in [
        ("DELIMITER", &options.delimiter),
        ("QUOTE", &options.quote),
        ("ESCAPE", &options.escape),
        ("NULL", &options.null_string),
        ("ENCODING", &options.encoding),
    ] {
        if let Some(value) = value {
            with.push(format!("{name} {}", literal(value)));
        }
    }
    with.extend(extra);
    let columns = match options.columns.as_ref().filter(|c| !c.is_empty()) {
        Some(columns) => format!(" ({})", columns.join(", ")),
        None => String::new(),
    };
    Ok(format!(
        "COPY {}{columns} {direction} WITH ({})",
        source.trim(),
        with.join(", ")
    ))
}

/// A string literal: single quotes doubled, as standard-conforming strings read them.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Counts the rows of TEXT and CSV output as it streams by: lines, except the newlines inside
/// CSV quotes. BINARY output is not counted.
struct LineCounter {
    format: CopyFormat,
    quote: u8,
    in_quotes: bool,
    lines: u64,
}

impl LineCounter {
    fn new(format: CopyFormat, quote: u8) -> Self {
        LineCounter {
            format,
            quote,
            in_quotes: false,
            lines: 0,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.format == CopyFormat::Csv && byte == self.quote {
                // A doubled quote inside quotes toggles twice: no change, as intended.
                self.in_quotes = !self.in_quotes;
            } else if byte == b'\n' && !self.in_quotes {
                self.lines += 1;
            }
        }
    }

    fn rows(&self, header: bool) -> Option<u64> {
        match self.format {
            CopyFormat::Binary => None,
            _ => Some(self.lines.saturating_sub(u64::from(header))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_option_values_and_keep_names_as_written() {
        let options = CopyOptions {
            format: Some(CopyFormat::Csv),
            header: Some(true),
            delimiter: Some(";".to_owned()),
            null_string: Some("it's null".to_owned()),
            columns: Some(vec!["id".to_owned(), "\"Name\"".to_owned()]),
            ..CopyOptions::default()
        };
        assert_eq!(
            statement(
                "public.t",
                &options,
                "FROM STDIN",
                vec!["FREEZE true".to_owned()]
            )
            .unwrap(),
            "COPY public.t (id, \"Name\") FROM STDIN WITH (FORMAT csv, HEADER true, \
             DELIMITER ';', NULL 'it''s null', FREEZE true)"
        );
        let oids = CopyOptions {
            oids: Some(true),
            ..CopyOptions::default()
        };
        assert!(statement("t", &oids, "TO STDOUT", vec![]).is_err());
    }

    #[test]
    fn csv_rows_are_lines_outside_quotes() {
        let mut counter = LineCounter::new(CopyFormat::Csv, b'"');
        counter.feed(b"id,note\n1,\"two\nlines\"\n2,\"say \"\"hi");
        counter.feed(b"\"\"\"\n");
        assert_eq!(counter.rows(true), Some(2));
        assert_eq!(LineCounter::new(CopyFormat::Binary, b'"').rows(false), None);
    }
}
