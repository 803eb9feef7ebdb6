//! `duckdb.queries` and `duckdb.query` (`io.kestra.plugin.jdbc.duckdb.*`), run by the DuckDB
//! command-line shell as a subprocess — the binary PyPI's `duckdb-cli` package ships, found by
//! `BATON_DUCKDB` or else `duckdb` on `PATH` — rather than linked in: the `duckdb` crate builds
//! DuckDB's C++ from source (tens of minutes on a small machine) or downloads a library, and
//! both would weigh on every build of the worker. The shell costs a process start per task run.
//!
//! A task run gets a working directory (`workdir.rs`) with its `inputFiles`, and the shell runs
//! in it, so `read_csv_auto('data.csv')` and `{{ workingDir }}/data.csv` both read an input, and
//! `COPY … TO 'out.parquet'` writes a file that `outputFiles` collects. `script.rs` turns the
//! task's `sql` into the shell's input and its output back into rows; results are shaped as the
//! Postgres tasks' are (`results.rs`).
//!
//! The shell runs in its own process group, killed with the task run (a kill, a timeout, or the
//! future dropped), which also covers `duckdb-cli`'s Python wrapper and the binary it starts.

mod script;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use baton_core::flow::props::{DuckdbProps, FetchType};
use baton_core::flow::task::LogLevel;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::process::GroupGuard;
use crate::results::{Statements, outputs};
use crate::{RunContext, TaskOutcome, WorkingDir, render};

/// The environment variable naming the DuckDB shell binary.
pub const BINARY_ENV: &str = "BATON_DUCKDB";
/// Kestra's default `url`: an in-memory database.
const MEMORY_URL: &str = "jdbc:duckdb:";
/// At most this much of the shell's error output is kept.
const MAX_STDERR: u64 = 64 * 1024;

pub(crate) async fn queries(
    statements: Statements,
    props: &DuckdbProps,
    run: &RunContext,
    cancel: &CancellationToken,
) -> TaskOutcome {
    match run_inner(statements, props, run, cancel).await {
        Ok(outcome) => outcome,
        Err(error) => TaskOutcome::failed(error),
    }
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
        return Err(
            "parameters: not supported by Baton's DuckDB tasks yet; write the values \
                    into sql with templates"
                .to_owned(),
        );
    }
    if props.output_db_file == Some(true) {
        return Err(
            "outputDbFile: not supported by Baton's DuckDB tasks yet; write a file with \
                    COPY or EXPORT DATABASE and list it in outputFiles"
                .to_owned(),
        );
    }
    let binary = binary()?;
    dir.write_input_files(run, props.input_files.as_ref())
        .await?;
    let database = database(&props, run, dir.path()).await?;
    if props.fetch_type == FetchType::None {
        run.logs.log(
            LogLevel::Info,
            "fetchType is set to NONE, no output will be returned",
        );
    }
    let plan = script::Plan::new(&props.sql, props.time_zone_id.as_deref());
    // Outside the working directory, so `outputFiles` globs never see it.
    let input = tempfile::NamedTempFile::new_in(&run.work_root)
        .map_err(|e| format!("cannot write the DuckDB script: {e}"))?;
    std::fs::write(input.path(), plan.text())
        .map_err(|e| format!("cannot write the DuckDB script: {e}"))?;
    let stdin = std::fs::File::open(input.path())
        .map_err(|e| format!("cannot read the DuckDB script: {e}"))?;

    let mut command = tokio::process::Command::new(&binary);
    // `-bail`: the first error ends the script, as a failed statement ends a Kestra task;
    // `-init /dev/null`: the worker's `~/.duckdbrc` must not change what a flow's SQL does.
    command.args(["-bail", "-batch", "-init", "/dev/null"]);
    if let Some(database) = &database {
        command.arg(database);
    }
    let mut child = command
        .current_dir(dir.path())
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start the DuckDB shell {}: {e} (install it with `pip install \
                 duckdb-cli` or set {BINARY_ENV})",
                binary.display()
            )
        })?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let _guard = GroupGuard(pgid);
    let stdout = child
        .stdout
        .take()
        .ok_or("the DuckDB shell has no output")?;
    let stderr = child
        .stderr
        .take()
        .ok_or("the DuckDB shell has no output")?;
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.take(MAX_STDERR).read_to_string(&mut text).await;
        text
    });
    let mut reader = script::Reader::new(props.fetch_type, run);
    let read = async {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines
            .next_line()
            .await
            .map_err(|e| format!("cannot read the DuckDB shell's output: {e}"))?
        {
            reader.line(&line).await?;
        }
        let status = child
            .wait()
            .await
            .map_err(|e| format!("the DuckDB shell: {e}"))?;
        Ok::<_, String>(status)
    };
    let finished = tokio::select! {
        status = read => Some(status),
        () = cancel.cancelled() => None,
    };
    let Some(status) = finished else {
        if let Some(pgid) = pgid {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        // Reaped before the outcome: a database file stays locked until the shell is gone.
        let _ = child.wait().await;
        return Ok(TaskOutcome::killed());
    };
    let status = status?;
    let stderr = errors.await.unwrap_or_default();
    if !status.success() {
        return Err(plan.error(run, reader.current(), stderr.trim(), status.code()));
    }
    if !stderr.trim().is_empty() {
        run.logs.log(LogLevel::Warn, stderr.trim().to_owned());
    }
    let results = reader.finish().await?;
    let mut outputs = outputs(statements, results);
    let files = dir.collect_output_files(run, &props.output_files).await?;
    if let Value::Object(map) = &mut outputs
        && !props.output_files.is_empty()
    {
        map.insert("outputFiles".to_owned(), Value::Object(files));
    }
    Ok(TaskOutcome::success(outputs))
}

/// The shell to run: `BATON_DUCKDB`, else `duckdb` found on `PATH`.
fn binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(BINARY_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(format!(
                "the DuckDB shell {} named by {BINARY_ENV} does not exist",
                path.display()
            ));
        }
        return Ok(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("duckdb"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "the DuckDB shell was not found: no `duckdb` on PATH and {BINARY_ENV} is not \
                 set (install it with `pip install duckdb-cli==1.5.6`)"
            )
        })
}

/// The database file the shell opens, or `None` for an in-memory database: `databaseUri` (a
/// `kestra://` file downloaded into the working directory), else the path in `url`
/// (`jdbc:duckdb:/data/file.db`, relative to the working directory when not absolute).
async fn database(
    props: &DuckdbProps,
    run: &RunContext,
    dir: &Path,
) -> Result<Option<PathBuf>, String> {
    if let Some(uri) = &props.database_uri {
        let uri = run
            .readable_uri(uri)
            .map_err(|e| format!("databaseUri: {e}"))?;
        let path = dir.join("database.duckdb");
        run.storage()
            .map_err(|e| format!("databaseUri: {e}"))?
            .get_to_file(&uri, &path)
            .await
            .map_err(|e| format!("databaseUri: {e}"))?;
        return Ok(Some(path));
    }
    let url = props.url.as_deref().unwrap_or(MEMORY_URL).trim();
    let Some(rest) = url.strip_prefix(MEMORY_URL) else {
        return Err(format!(
            "url: '{url}' is not a DuckDB JDBC URL (jdbc:duckdb: or jdbc:duckdb:/path/file.db)"
        ));
    };
    // Connection options after `?` are the JDBC driver's; the shell takes none.
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(None);
    }
    Ok(Some(dir.join(path)))
}
