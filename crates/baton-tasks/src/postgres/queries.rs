//! `postgres.queries` and `postgres.query`: the task's `sql` split into statements (`split.rs`),
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
use serde_json::Value;
use sqlx::postgres::{PgArguments, PgTypeInfo};
use sqlx::query::Query;
use sqlx::{
    AssertSqlSafe, Connection, Executor, PgConnection, Postgres, SqlSafeStr, Statement, Type,
};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::split::{self, named_parameters};
use super::{cells, sql_error, with_connection};
use crate::results::{Fetched, StoreFile, outputs};
use crate::rows::{self, Row};
use crate::{RunContext, TaskOutcome, render};

pub(crate) use crate::results::Statements;

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
