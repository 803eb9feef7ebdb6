//! `duckdb.queries` and `duckdb.query` (`io.kestra.plugin.jdbc.duckdb.{Queries,Query}`), run by
//! the DuckDB CLI (PyPI's `duckdb-cli`, a native binary; `RunContext::duckdb` says where it is)
//! as a process in the task run's working directory — so Baton builds no C++ and downloads
//! nothing. The working directory gets the `inputFiles` (and the `databaseUri` file); the
//! statements go to the CLI's standard input in JSON output mode, each followed by a marker
//! line, so the rows on its standard output are attributed to their statement as they stream
//! (one row per line); `outputFiles` are collected afterwards.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use baton_core::flow::props::{DuckdbProps, FetchType};
use baton_core::flow::task::LogLevel;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::rows::{self, Cell, Row};
use crate::{RunContext, TaskOutcome, WorkingDir, render, sql_split};

/// Printed by the CLI after each statement; cannot be a row, which is a JSON object.
const MARK: &str = "::baton-statement-end::";
/// The most of the CLI's standard error kept for the task's error.
const MAX_ERROR_BYTES: u64 = 64 * 1024;
const DATABASE_FILE: &str = "database.duckdb";

/// Which task runs: `Many` is `duckdb.queries`, `One` is `duckdb.query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Statements {
    One,
    Many,
}

pub(crate) async fn run(
    statements: Statements,
    props: &DuckdbProps,
    run: &RunContext,
    cancel: &CancellationToken,
) -> TaskOutcome {
    match run_inner(statements, props, run, cancel).await {
        Ok(outcome) => outcome,
        Err(_) if cancel.is_cancelled() => TaskOutcome::killed(),
        Err(error) => TaskOutcome::failed(error),
    }
}

/// What one statement that returns rows gave, as the Postgres tasks give it.
#[derive(Default)]
struct Result1 {
    rows: Vec<Value>,
    uri: Option<String>,
    size: u64,
    /// Rows of a `STORE` result, written as they arrive.
    file: Option<(tokio::io::BufWriter<tokio::fs::File>, PathBuf)>,
}

async fn run_inner(
    statements: Statements,
    props: &DuckdbProps,
    run: &RunContext,
    cancel: &CancellationToken,
) -> Result<TaskOutcome, String> {
    let dir = WorkingDir::create(run)?;
    let mut context = run.context.clone();
    if let Value::Object(map) = &mut context {
        map.insert(
            "workingDir".to_owned(),
            Value::String(dir.path().display().to_string()),
        );
    }
    let props = render::props_with(props, run, &context)?;
    if props.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err("parameters: not supported for DuckDB by Baton yet".to_owned());
    }
    dir.write_input_files(run, props.input_files.as_ref())
        .await?;
    let database = database(&props, &dir, run).await?;
    let fetch = props.fetch_type;
    if fetch == FetchType::None {
        run.logs.log(
            LogLevel::Info,
            "fetchType is set to NONE, no output will be returned",
        );
    }
    let mut script = String::new();
    for statement in sql_split::statements(&props.sql) {
        script.push_str(statement.text);
        script.push_str(";\n.print ");
        script.push_str(MARK);
        script.push('\n');
    }
    let results = execute(run, &dir, database.as_deref(), script, fetch, cancel).await?;
    let mut outputs = match statements {
        Statements::Many => many(&results, fetch),
        Statements::One => one(results, fetch),
    };
    let files = dir.collect_output_files(run, &props.output_files).await?;
    if !files.is_empty() {
        outputs.insert("outputFiles".to_owned(), Value::Object(files));
    }
    if props.output_db_file == Some(true)
        && let Some(path) = &database
    {
        let (execution, task_id, task_run_id) = run.task_run_files()?;
        let uri = execution
            .task_file(&task_id, &task_run_id, DATABASE_FILE)
            .map_err(|e| e.to_string())?;
        run.storage()?
            .put_file(&uri, path)
            .await
            .map_err(|e| format!("outputDbFile: {e}"))?;
        outputs.insert("databaseUri".to_owned(), Value::String(uri.to_string()));
    }
    Ok(TaskOutcome::success(Value::Object(outputs)))
}

/// The database file the CLI opens, or `None` for an in-memory database. `url` is
/// `jdbc:duckdb:` (in memory) or `jdbc:duckdb:/path/to/file`; `databaseUri` is a file in
/// internal storage, copied into the working directory first.
async fn database(
    props: &DuckdbProps,
    dir: &WorkingDir,
    run: &RunContext,
) -> Result<Option<PathBuf>, String> {
    if let Some(uri) = &props.database_uri {
        let uri = run
            .readable_uri(uri)
            .map_err(|e| format!("databaseUri: {e}"))?;
        let path = dir.path().join(DATABASE_FILE);
        run.storage()?
            .get_to_file(&uri, &path)
            .await
            .map_err(|e| format!("databaseUri: {e}"))?;
        return Ok(Some(path));
    }
    let location = match &props.url {
        None => "",
        Some(url) => url
            .trim()
            .strip_prefix("jdbc:duckdb:")
            .ok_or_else(|| format!("url: '{url}' is not a DuckDB URL (jdbc:duckdb:[file])"))?,
    };
    Ok(match location {
        "" | ":memory:" if props.output_db_file == Some(true) => {
            Some(dir.path().join(DATABASE_FILE))
        }
        "" | ":memory:" => None,
        path => Some(dir.path().join(path)),
    })
}

async fn execute(
    run: &RunContext,
    dir: &WorkingDir,
    database: Option<&Path>,
    script: String,
    fetch: FetchType,
    cancel: &CancellationToken,
) -> Result<Vec<Result1>, String> {
    let mut command = tokio::process::Command::new(&run.duckdb);
    // No ~/.duckdbrc: what runs is the task's SQL only.
    command.args(["-json", "-bail", "-init", "/dev/null"]);
    if let Some(database) = database {
        command.arg(database);
    }
    let mut child = command
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start the DuckDB CLI '{}': {e} (install PyPI's duckdb-cli, or point \
                 BATON_DUCKDB at its binary)",
                run.duckdb.display()
            )
        })?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let writer = tokio::spawn(async move {
        // The CLI stops reading at the first error (-bail): a broken pipe then is expected.
        let _ = stdin.write_all(script.as_bytes()).await;
    });
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let error_text = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.take(MAX_ERROR_BYTES).read_to_string(&mut text).await;
        text
    });
    let reading = read_results(run, BufReader::new(stdout), fetch);
    let results = tokio::select! {
        results = reading => results?,
        () = cancel.cancelled() => {
            // The whole group: PyPI's `duckdb` on PATH is a Python wrapper whose child is the
            // CLI. Reaped before the outcome, as a database file stays locked until it is gone.
            if let Some(pgid) = child.id().and_then(|id| i32::try_from(id).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pgid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait().await;
            return Err("killed".to_owned());
        }
    };
    let status = child.wait().await.map_err(|e| e.to_string())?;
    let _ = writer.await;
    let error = error_text.await.unwrap_or_default();
    if !status.success() {
        let message = error.trim();
        let message = if message.is_empty() {
            format!("the DuckDB CLI failed ({status})")
        } else {
            message.to_owned()
        };
        run.logs.log(LogLevel::Error, message.clone());
        return Err(message);
    }
    let mut done = Vec::new();
    for (index, mut result) in results.into_iter().enumerate() {
        if let Some((mut writer, path)) = result.file.take() {
            writer
                .flush()
                .await
                .map_err(|e| format!("cannot write the result file: {e}"))?;
            drop(writer);
            let (execution, task_id, task_run_id) = run.task_run_files()?;
            let uri = execution
                .task_file(&task_id, &task_run_id, &format!("result-{}.ion", index + 1))
                .map_err(|e| e.to_string())?;
            run.storage()?
                .put_file(&uri, &path)
                .await
                .map_err(|e| e.to_string())?;
            result.uri = Some(uri.to_string());
        }
        done.push(result);
    }
    Ok(done)
}

/// Reads the CLI's output: JSON arrays of rows, one row per line (`[{…},`, `{…},`, `{…}]`, or
/// `[]`), each statement ended by [`MARK`]. A statement that printed no array returned no rows.
async fn read_results(
    run: &RunContext,
    mut stdout: BufReader<tokio::process::ChildStdout>,
    fetch: FetchType,
) -> Result<Vec<Result1>, String> {
    let mut results = Vec::new();
    let mut current: Option<Result1> = None;
    let mut line = String::new();
    loop {
        line.clear();
        let read = stdout
            .read_line(&mut line)
            .await
            .map_err(|e| format!("cannot read the DuckDB CLI's output: {e}"))?;
        if read == 0 {
            break;
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if text == MARK {
            results.extend(current.take());
            continue;
        }
        let result = current.get_or_insert_with(Result1::default);
        let row_text = text
            .trim_start_matches('[')
            .trim_end_matches(',')
            .trim_end_matches(']');
        if row_text.is_empty() {
            continue;
        }
        let row: Map<String, Value> = serde_json::from_str(row_text)
            .map_err(|e| format!("cannot read a row of the DuckDB CLI's output: {e}"))?;
        result.size += 1;
        match fetch {
            FetchType::Fetch => result.rows.push(Value::Object(row)),
            FetchType::FetchOne if result.rows.is_empty() => {
                result.rows.push(Value::Object(row));
            }
            FetchType::Store => {
                if result.file.is_none() {
                    let path = run
                        .work_root
                        .join(format!("baton-duckdb-{}.ion", uuid::Uuid::now_v7()));
                    let file = tokio::fs::File::create(&path)
                        .await
                        .map_err(|e| format!("cannot write the result file: {e}"))?;
                    result.file = Some((tokio::io::BufWriter::new(file), path));
                }
                if let Some((writer, _)) = result.file.as_mut() {
                    let row: Row = row.into_iter().map(|(k, v)| (k, Cell::Json(v))).collect();
                    writer
                        .write_all(rows::row_ion(&row).as_bytes())
                        .await
                        .map_err(|e| format!("cannot write the result file: {e}"))?;
                }
            }
            FetchType::FetchOne | FetchType::None => {}
        }
    }
    results.extend(current);
    Ok(results)
}

/// One result's outputs, per `fetchType`, as the Postgres tasks give them.
fn fields(result: &Result1, fetch: FetchType) -> Map<String, Value> {
    let mut out = Map::new();
    match fetch {
        FetchType::FetchOne => {
            if let Some(row) = result.rows.first() {
                out.insert("row".to_owned(), row.clone());
            }
        }
        FetchType::Fetch => {
            out.insert("rows".to_owned(), Value::Array(result.rows.clone()));
        }
        FetchType::Store | FetchType::None => {}
    }
    if let Some(uri) = &result.uri {
        out.insert("uri".to_owned(), Value::String(uri.clone()));
    }
    let size = match fetch {
        FetchType::FetchOne => result.size.min(1),
        _ => result.size,
    };
    out.insert("size".to_owned(), json!(size));
    out
}

/// `duckdb.queries`: one entry per result in `outputs`, the last one's fields at the top too.
fn many(results: &[Result1], fetch: FetchType) -> Map<String, Value> {
    if fetch == FetchType::None {
        return Map::from_iter([("outputs".to_owned(), json!([]))]);
    }
    let mut out = results.last().map(|r| fields(r, fetch)).unwrap_or_default();
    out.insert(
        "outputs".to_owned(),
        Value::Array(
            results
                .iter()
                .map(|r| Value::Object(fields(r, fetch)))
                .collect(),
        ),
    );
    out
}

/// `duckdb.query`: the results read as one (rows concatenated, sizes summed, the last file).
fn one(results: Vec<Result1>, fetch: FetchType) -> Map<String, Value> {
    if fetch == FetchType::None || results.is_empty() {
        return Map::new();
    }
    let mut merged = Result1::default();
    for result in results {
        merged.size += result.size;
        merged.rows.extend(result.rows);
        if result.uri.is_some() {
            merged.uri = result.uri;
        }
    }
    fields(&merged, fetch)
}
