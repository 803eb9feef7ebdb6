//! `postgres.queries` and `postgres.query`: the task's `sql` split into statements
//! (`sql_split.rs`),
//! each prepared and run in order, by default in one transaction (`transaction: false` commits
//! each as it goes), then `afterSQL` in the same transaction. Kestra's `:name` parameters are
//! bound from `parameters`: text as TEXT, whole numbers as INT8, other numbers as FLOAT8,
//! booleans as BOOL, maps and lists as JSONB, null as a TEXT null (cast in SQL where another
//! type is meant, `:id::int`, as with Kestra's JDBC driver).
//!
//! Each statement that returns rows gives a result, per `fetchType`: `FETCH` the rows, `FETCH_ONE`
//! the first, `STORE` an Ion file in internal storage (rows written as they arrive), `NONE`
//! nothing. `postgres.queries` outputs one entry per result in `outputs` (Kestra's shape) and,
//! for flows that read it directly, the last result's `row`/`rows`/`uri`/`size` too;
//! `postgres.query` outputs its results merged, as Kestra's JDBC `Query` reads every result set.

use baton_core::flow::props::{FetchType, JdbcConnection, QueriesProps};
use baton_core::flow::task::LogLevel;
use futures_util::TryStreamExt;
use serde_json::{Map, Value, json};
use sqlx::postgres::{PgArguments, PgTypeInfo};
use sqlx::query::Query;
use sqlx::{
    AssertSqlSafe, Connection, Executor, PgConnection, Postgres, SqlSafeStr, Statement, Type,
};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::{cells, sql_error, with_connection};
use crate::rows::{self, Row};
use crate::sql_split::{self as split, named_parameters};
use crate::{RunContext, TaskOutcome, render};

/// Which task runs: `Many` is `postgres.queries`, `One` is `postgres.query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Statements {
    One,
    Many,
}

pub(crate) async fn queries(
    statements: Statements,
    connection: &JdbcConnection,
    props: &QueriesProps,
    run: &RunContext,
    cancel: &CancellationToken,
) -> TaskOutcome {
    let props = match render::props(props, run) {
        Ok(props) => props,
        Err(error) => return TaskOutcome::failed(error),
    };
    with_connection(connection, run, cancel, async |conn| {
        let results = execute(conn, &props, run).await?;
        Ok(TaskOutcome::success(outputs(statements, results)))
    })
    .await
}

/// What one statement that returns rows gave.
#[derive(Default)]
struct Fetched {
    row: Option<Value>,
    rows: Option<Vec<Value>>,
    uri: Option<String>,
    size: u64,
}

async fn execute(
    conn: &mut PgConnection,
    props: &QueriesProps,
    run: &RunContext,
) -> Result<Vec<Fetched>, String> {
    let statements = split::statements(&props.sql);
    if props.fetch_type == FetchType::None {
        run.logs.log(
            LogLevel::Info,
            "fetchType is set to NONE, no output will be returned",
        );
    }
    if !props.transaction.unwrap_or(true) {
        return all(conn, &statements, props, run).await;
    }
    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
    match all(&mut tx, &statements, props, run).await {
        Ok(results) => {
            tx.commit().await.map_err(|e| e.to_string())?;
            Ok(results)
        }
        Err(error) => {
            // Rolling back explicitly reports nothing new; the statement's error says why.
            let _ = tx.rollback().await;
            Err(error)
        }
    }
}

/// Every statement, then `afterSQL`.
async fn all(
    conn: &mut PgConnection,
    statements: &[split::Statement<'_>],
    props: &QueriesProps,
    run: &RunContext,
) -> Result<Vec<Fetched>, String> {
    let script = props.sql.as_str();
    let parameters = props.parameters.clone().unwrap_or_default();
    let mut results = Vec::new();
    for statement in statements {
        run.logs.log(
            LogLevel::Debug,
            format!("Starting query: {}", statement.text),
        );
        let fetched = one(
            conn,
            statement,
            script,
            &parameters,
            props.fetch_type,
            run,
            results.len(),
        )
        .await?;
        results.extend(fetched);
    }
    if let Some(after) = props.after_sql.as_deref() {
        for statement in &split::statements(after) {
            one(conn, statement, after, &parameters, FetchType::None, run, 0).await?;
        }
    }
    Ok(results)
}

/// Runs one statement; returns its result when it returns rows and the task fetches them.
async fn one(
    conn: &mut PgConnection,
    statement: &split::Statement<'_>,
    script: &str,
    parameters: &indexmap::IndexMap<String, Value>,
    fetch: FetchType,
    run: &RunContext,
    index: usize,
) -> Result<Option<Fetched>, String> {
    let (text, names) = if parameters.is_empty() {
        (statement.text.to_owned(), Vec::new())
    } else {
        named_parameters(statement.text)
    };
    let mut values = Vec::with_capacity(names.len());
    for name in &names {
        let value = parameters
            .get(name)
            .ok_or_else(|| format!("sql: parameter ':{name}' is not in parameters"))?;
        values.push(value);
    }
    let types: Vec<PgTypeInfo> = values.iter().map(|v| type_of(v)).collect();
    let error = |e: sqlx::Error| sql_error(run, &e, script, statement.offset);
    let prepared = conn
        .prepare_with(AssertSqlSafe(text).into_sql_str(), &types)
        .await
        .map_err(error)?;
    let returns_rows = !prepared.columns().is_empty();
    let mut query = prepared.query();
    for value in values {
        query = bind(query, value);
    }
    if !returns_rows || fetch == FetchType::None {
        conn.execute(query).await.map_err(error)?;
        return Ok(None);
    }
    let mut stream = query.fetch(&mut *conn);
    let mut fetched = Fetched::default();
    match fetch {
        FetchType::FetchOne => {
            if let Some(row) = stream.try_next().await.map_err(error)? {
                fetched.row = Some(rows::row_json(&cells::row(&row)?));
                fetched.size = 1;
            }
        }
        FetchType::Fetch => {
            let mut all = Vec::new();
            while let Some(row) = stream.try_next().await.map_err(error)? {
                all.push(rows::row_json(&cells::row(&row)?));
            }
            fetched.size = all.len() as u64;
            fetched.rows = Some(all);
        }
        FetchType::Store => {
            let file = StoreFile::create(run).await?;
            let mut writer = tokio::io::BufWriter::new(
                tokio::fs::File::create(file.path())
                    .await
                    .map_err(|e| format!("cannot write the result file: {e}"))?,
            );
            while let Some(row) = stream.try_next().await.map_err(error)? {
                let row: Row = cells::row(&row)?;
                writer
                    .write_all(rows::row_ion(&row).as_bytes())
                    .await
                    .map_err(|e| format!("cannot write the result file: {e}"))?;
                fetched.size += 1;
            }
            writer
                .flush()
                .await
                .map_err(|e| format!("cannot write the result file: {e}"))?;
            drop(stream);
            fetched.uri = Some(
                file.upload(run, &format!("result-{}.ion", index + 1))
                    .await?,
            );
        }
        FetchType::None => {}
    }
    Ok(Some(fetched))
}

fn type_of(value: &Value) -> PgTypeInfo {
    match value {
        Value::Bool(_) => <bool as Type<Postgres>>::type_info(),
        Value::Number(n) if n.is_i64() => <i64 as Type<Postgres>>::type_info(),
        Value::Number(_) => <f64 as Type<Postgres>>::type_info(),
        Value::Array(_) | Value::Object(_) => {
            <sqlx::types::Json<Value> as Type<Postgres>>::type_info()
        }
        Value::Null | Value::String(_) => <String as Type<Postgres>>::type_info(),
    }
}

fn bind<'q>(
    query: Query<'q, Postgres, PgArguments>,
    value: &Value,
) -> Query<'q, Postgres, PgArguments> {
    match value {
        Value::Bool(b) => query.bind(*b),
        Value::Number(n) if n.is_i64() => query.bind(n.as_i64()),
        Value::Number(n) => query.bind(n.as_f64()),
        Value::Array(_) | Value::Object(_) => query.bind(sqlx::types::Json(value.clone())),
        Value::Null => query.bind(None::<String>),
        Value::String(text) => query.bind(text.clone()),
    }
}

/// A file on the worker that a `STORE` result is written to, then uploaded.
pub(super) struct StoreFile {
    dir: tempfile::TempDir,
}

impl StoreFile {
    pub(super) async fn create(run: &RunContext) -> Result<StoreFile, String> {
        // Fail before running anything long when there is nowhere to put the result.
        run.storage()?;
        tokio::fs::create_dir_all(&run.work_root)
            .await
            .map_err(|e| format!("cannot create {}: {e}", run.work_root.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("baton-result-")
            .tempdir_in(&run.work_root)
            .map_err(|e| format!("cannot create a result file: {e}"))?;
        Ok(StoreFile { dir })
    }

    pub(super) fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("result")
    }

    /// Uploads the file as `name` under the task run; returns its `kestra://` URI.
    pub(super) async fn upload(&self, run: &RunContext, name: &str) -> Result<String, String> {
        let (files, task_id, task_run_id) = run.task_run_files()?;
        let uri = files
            .task_file(&task_id, &task_run_id, name)
            .map_err(|e| e.to_string())?;
        run.storage()?
            .put_file(&uri, &self.path())
            .await
            .map_err(|e| e.to_string())?;
        Ok(uri.to_string())
    }
}

fn fetched_json(fetched: &Fetched) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(row) = &fetched.row {
        out.insert("row".to_owned(), row.clone());
    }
    if let Some(rows) = &fetched.rows {
        out.insert("rows".to_owned(), Value::Array(rows.clone()));
    }
    if let Some(uri) = &fetched.uri {
        out.insert("uri".to_owned(), Value::String(uri.clone()));
    }
    out.insert("size".to_owned(), json!(fetched.size));
    out
}

fn outputs(statements: Statements, results: Vec<Fetched>) -> Value {
    match statements {
        Statements::Many => {
            let mut out = results.last().map(fetched_json).unwrap_or_default();
            out.insert(
                "outputs".to_owned(),
                Value::Array(
                    results
                        .iter()
                        .map(|f| Value::Object(fetched_json(f)))
                        .collect(),
                ),
            );
            Value::Object(out)
        }
        Statements::One => {
            if results.is_empty() {
                return json!({});
            }
            // Every result set read into one: rows concatenated, the first row, the sizes
            // summed; STORE writes one file per statement, so the last one's URI is given.
            let mut merged = Fetched::default();
            for fetched in results {
                merged.size += fetched.size;
                if merged.row.is_none() {
                    merged.row = fetched.row;
                }
                if let Some(rows) = fetched.rows {
                    merged.rows.get_or_insert_with(Vec::new).extend(rows);
                }
                if fetched.uri.is_some() {
                    merged.uri = fetched.uri;
                }
            }
            Value::Object(fetched_json(&merged))
        }
    }
}
