//! The DuckDB tasks with the real DuckDB CLI (PyPI's `duckdb-cli`, installed by `./test.sh`):
//! files in the working directory, every fetch type, database files in and out of storage,
//! SQL errors, kills.

mod support;

use std::time::Duration;

use baton_storage::StorageUri;
use baton_tasks::{Cancel, TaskState};
use serde_json::json;
use support::{Harness, lines};

const FLOW: &str = r#"
id: duck
namespace: company.team
tasks:
  - id: products
    type: io.kestra.plugin.jdbc.duckdb.Query
    inputFiles:
      products.json: |
        [{"brand": "a", "price": 1.5}, {"brand": "a", "price": 2.5}, {"brand": "b", "price": 3}]
    sql: |
      SELECT brand, round(avg(price), 2) AS avg_price, count(*) AS n
      FROM read_json_auto('{{ workingDir }}/products.json')
      GROUP BY brand
      ORDER BY avg_price DESC;
    fetchType: FETCH
  - id: script
    type: io.kestra.plugin.jdbc.duckdb.Queries
    sql: |
      CREATE TABLE t AS SELECT range AS i, 'row; ' || range AS label FROM range(5);
      SELECT count(*) AS n FROM t;
      SELECT * FROM t WHERE i > 100;
      SELECT i, label FROM t ORDER BY i DESC LIMIT 2;
    fetchType: FETCH_ONE
  - id: store
    type: io.kestra.plugin.jdbc.duckdb.Query
    sql: SELECT range AS i, (range * 1.5)::DOUBLE AS x, 'v' || range AS s FROM range(3)
    fetchType: STORE
  - id: export
    type: io.kestra.plugin.jdbc.duckdb.Queries
    sql: COPY (SELECT 42 AS answer) TO 'answer.csv' (HEADER)
    outputFiles:
      - answer.csv
  - id: make_db
    type: io.kestra.plugin.jdbc.duckdb.Queries
    outputDbFile: true
    sql: CREATE TABLE kept AS SELECT 7 AS seven
  - id: use_db
    type: io.kestra.plugin.jdbc.duckdb.Query
    databaseUri: "{{ outputs.make_db.databaseUri }}"
    sql: SELECT seven FROM kept
    fetchType: FETCH_ONE
  - id: broken
    type: io.kestra.plugin.jdbc.duckdb.Queries
    sql: |
      SELECT 1;
      SELEC 2;
  - id: slow
    type: io.kestra.plugin.jdbc.duckdb.Query
    sql: SELECT count(*) FROM range(100000000000) a
    fetchType: FETCH_ONE
  - id: slow_on_file
    type: io.kestra.plugin.jdbc.duckdb.Query
    url: "jdbc:duckdb:{{ inputs.db }}"
    sql: SELECT sum(a.range * b.range) AS s FROM range(100000000) a, range(100000000) b
    fetchType: FETCH_ONE
  - id: after_slow
    type: io.kestra.plugin.jdbc.duckdb.Query
    url: "jdbc:duckdb:{{ inputs.db }}"
    sql: SELECT 1 AS one
    fetchType: FETCH_ONE
"#;

#[tokio::test]
async fn queries_read_files_of_the_working_directory() {
    let mut harness = Harness::new(FLOW, true);
    let outputs = harness.run_ok("products").await;
    assert_eq!(
        outputs,
        json!({"rows": [
            {"brand": "b", "avg_price": 3.0, "n": 1},
            {"brand": "a", "avg_price": 2.0, "n": 2},
        ], "size": 2})
    );
}

#[tokio::test]
async fn every_statement_that_returns_rows_gives_a_result() {
    let mut harness = Harness::new(FLOW, true);
    let outputs = harness.run_ok("script").await;
    assert_eq!(
        outputs["outputs"],
        json!([
            {"row": {"n": 5}, "size": 1},
            {"size": 0},
            {"row": {"i": 4, "label": "row; 4"}, "size": 1},
        ])
    );
    assert_eq!(outputs["row"], json!({"i": 4, "label": "row; 4"}));
}

#[tokio::test]
async fn store_writes_ion_and_files_and_databases_go_to_storage() {
    let mut harness = Harness::new(FLOW, true);
    let storage = harness.storage.clone().unwrap();
    let read = |uri: &serde_json::Value| {
        let uri = StorageUri::parse(uri.as_str().unwrap()).unwrap();
        let storage = storage.clone();
        async move { storage.read_text(&uri, 100_000).await.unwrap() }
    };
    let stored = harness.run_ok("store").await;
    assert_eq!(stored["size"], 3);
    assert_eq!(
        read(&stored["uri"]).await,
        "{i:0,x:0e0,s:\"v0\"}\n{i:1,x:1.5e0,s:\"v1\"}\n{i:2,x:3e0,s:\"v2\"}\n"
    );
    let exported = harness.run_ok("export").await;
    assert_eq!(
        read(&exported["outputFiles"]["answer.csv"]).await,
        "answer\n42\n"
    );
    let made = harness.run_ok("make_db").await;
    assert!(
        made["databaseUri"]
            .as_str()
            .unwrap()
            .ends_with("/tasks/make_db/run-make_db/database.duckdb"),
        "{made}"
    );
    assert_eq!(harness.run_ok("use_db").await["row"], json!({"seven": 7}));
}

#[tokio::test]
async fn a_sql_error_is_logged_and_fails_the_task() {
    let mut harness = Harness::new(FLOW, true);
    let (error, logs) = harness.run_failed("broken").await;
    assert!(
        error.starts_with("Parser Error: syntax error at or near \"SELEC\""),
        "{error}"
    );
    assert!(error.contains("LINE 1: SELEC 2"), "{error}");
    assert_eq!(lines(&logs).last().copied(), Some(error.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_stops_the_cli() {
    let mut harness = Harness::new(FLOW, true);
    let cancel = cancel_after(Duration::from_millis(300));
    let (outcome, _) = harness.run_with("slow", &cancel).await;
    assert_eq!(outcome.state, TaskState::Killed, "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_cli_is_gone_before_the_next_task_opens_its_database_file() {
    let mut harness = Harness::new(FLOW, true);
    let db = harness.dir.path().join("kept.duckdb");
    harness.inputs = serde_json::json!({"db": db.display().to_string()});
    let cancel = cancel_after(Duration::from_millis(800));
    let (outcome, _) = harness.run_with("slow_on_file", &cancel).await;
    assert_eq!(outcome.state, TaskState::Killed, "{outcome:?}");
    // DuckDB lets one process write a database file: a CLI still running (or not yet reaped)
    // makes this fail with "Could not set lock on file".
    let (outcome, _) = harness.run("after_slow").await;
    assert_eq!(outcome.state, TaskState::Success, "{outcome:?}");
}

/// A kill that comes `after` from now.
fn cancel_after(after: Duration) -> Cancel {
    let cancel = Cancel::new();
    let killer = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        killer.cancel();
    });
    cancel
}
