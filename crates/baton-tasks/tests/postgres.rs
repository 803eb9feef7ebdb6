//! The Postgres tasks against a real throwaway Postgres (baton-store's test server, a fresh
//! database per test): queries with every fetch type, parameters, transactions, SQL errors with
//! their position, wrong passwords, unreachable hosts, COPY in and out, and kills.

mod support;

use std::time::Duration;

use baton_store::testing::PgServer;
use baton_tasks::{Cancel, TaskState};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use support::{Harness, lines};

const FLOW: &str = r#"
id: pg
namespace: company.team
inputs:
  - id: url
    type: STRING
tasks:
  - id: setup
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: |
      CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10, 2), note text, paid boolean,
                           at timestamptz, day date, doc jsonb, tags text[]);
      INSERT INTO orders VALUES
        (1, 10.50, 'first; with a semicolon', true, '2024-01-31 10:00:00+00', '2024-01-31',
         '{"a": [1, 2]}', '{x,y}'),
        (2, -3, NULL, false, NULL, NULL, NULL, NULL);
      SELECT id, amount, note, paid, at, day, doc, tags FROM orders ORDER BY id;
      SELECT count(*) AS n FROM orders;
    fetchType: FETCH
  - id: one
    type: io.kestra.plugin.jdbc.postgresql.Query
    sql: SELECT id, note FROM orders WHERE id = :id AND note LIKE :pattern
    parameters:
      id: 1
      pattern: "first%"
    fetchType: FETCH_ONE
  - id: store
    type: io.kestra.plugin.jdbc.postgresql.Query
    sql: SELECT id, amount, note FROM orders ORDER BY id
    fetchType: STORE
  - id: none
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: SELECT 1
  - id: broken
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: |
      INSERT INTO orders (id) VALUES (3);
      SELECT id
        FROM nowhere;
  - id: after_broken
    type: io.kestra.plugin.jdbc.postgresql.Query
    sql: SELECT count(*) AS n FROM orders
    fetchType: FETCH_ONE
  - id: autocommit
    type: io.kestra.plugin.jdbc.postgresql.Queries
    transaction: false
    sql: |
      INSERT INTO orders (id) VALUES (4);
      INSERT INTO orders (id) VALUES (4);
  - id: sleep
    type: io.kestra.plugin.jdbc.postgresql.Query
    sql: SELECT pg_sleep(120)
pluginDefaults:
  - type: io.kestra.plugin.jdbc.postgresql
    values:
      url: "{{ inputs.url }}"
"#;

/// A fresh database; returns its URL (`postgres://postgres@localhost:5432/db?host=<socket>`).
async fn database() -> String {
    PgServer::get().fresh_database_url().await
}

async fn connect(url: &str) -> PgConnection {
    let options: PgConnectOptions = url.parse().unwrap();
    PgConnection::connect_with(&options).await.unwrap()
}

async fn harness(flow: &str) -> Harness {
    let mut harness = Harness::new(flow, true);
    harness.inputs = json!({ "url": database().await });
    harness
}

fn url(harness: &Harness) -> String {
    harness.inputs["url"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn queries_fetch_typed_rows_of_every_result_set() {
    let mut harness = harness(FLOW).await;
    let outputs = harness.run_ok("setup").await;
    let rows = json!([
        {"id": 1, "amount": 10.5, "note": "first; with a semicolon", "paid": true,
         "at": "2024-01-31T10:00:00Z", "day": "2024-01-31", "doc": {"a": [1, 2]},
         "tags": ["x", "y"]},
        {"id": 2, "amount": -3, "note": null, "paid": false, "at": null, "day": null,
         "doc": null, "tags": null},
    ]);
    assert_eq!(outputs["outputs"][0], json!({"rows": rows, "size": 2}));
    assert_eq!(
        outputs["outputs"][1],
        json!({"rows": [{"n": 2}], "size": 1})
    );
    // The last result is also at the top, for flows that read `outputs.<task>.rows`.
    assert_eq!(outputs["rows"], json!([{"n": 2}]));
    assert_eq!(outputs["outputs"].as_array().unwrap().len(), 2);

    let one = harness.run_ok("one").await;
    assert_eq!(
        one,
        json!({"row": {"id": 1, "note": "first; with a semicolon"}, "size": 1})
    );
    let (none, logs) = harness.run("none").await;
    assert_eq!(none.state, TaskState::Success);
    assert_eq!(none.outputs, json!({"outputs": []}));
    assert_eq!(
        lines(&logs)[0],
        "fetchType is set to NONE, no output will be returned"
    );
}

#[tokio::test]
async fn store_writes_the_rows_to_an_ion_file_in_storage() {
    let mut harness = harness(FLOW).await;
    harness.run_ok("setup").await;
    let outputs = harness.run_ok("store").await;
    assert_eq!(outputs["size"], 2);
    let uri = outputs["uri"].as_str().unwrap();
    assert_eq!(
        uri,
        "kestra:///company/team/pg/executions/exec1/tasks/store/run-store/result-1.ion"
    );
    let storage = harness.storage.as_ref().unwrap();
    let text = storage
        .read_text(&baton_storage::StorageUri::parse(uri).unwrap(), 10_000)
        .await
        .unwrap();
    assert_eq!(
        text,
        "{id:1,amount:10.50,note:\"first; with a semicolon\"}\n{id:2,amount:-3.00,note:null}\n"
    );
}

#[tokio::test]
async fn a_sql_error_is_logged_with_its_position_and_rolls_the_statements_back() {
    let mut harness = harness(FLOW).await;
    harness.run_ok("setup").await;
    let (error, logs) = harness.run_failed("broken").await;
    let expected = "ERROR 42P01: relation \"nowhere\" does not exist (line 3, column 8)\n  \
                    3 |   FROM nowhere;\n             ^";
    assert_eq!(error, expected);
    assert!(lines(&logs).contains(&expected), "{:?}", lines(&logs));
    // The INSERT before the error was rolled back with it.
    assert_eq!(harness.run_ok("after_broken").await["row"]["n"], 2);

    // Without a transaction each statement commits on its own: the first INSERT stays.
    let (duplicate, _) = harness.run_failed("autocommit").await;
    assert!(
        duplicate.starts_with(
            "ERROR 23505: duplicate key value violates unique constraint \"orders_pkey\""
        ),
        "{duplicate}"
    );
    assert!(
        duplicate.contains("DETAIL: Key (id)=(4) already exists."),
        "{duplicate}"
    );
    assert_eq!(harness.run_ok("after_broken").await["row"]["n"], 3);
}

#[tokio::test]
async fn a_jdbc_url_with_username_and_password_connects_and_a_wrong_password_is_refused() {
    let url = database().await;
    let mut admin = connect(&url).await;
    let role = format!("r_{}", uuid::Uuid::now_v7().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'right'"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    // postgres://postgres@localhost:5432/db?host=/dir → jdbc:postgresql://localhost:5432/db?host=/dir
    let jdbc = url.replace("postgres://postgres@", "jdbc:postgresql://");
    let flow = |password: &str| {
        format!(
            r#"
id: login
namespace: company.team
tasks:
  - id: who
    type: io.kestra.plugin.jdbc.postgresql.Query
    sql: SELECT current_user AS name
    fetchType: FETCH_ONE
pluginDefaults:
  - type: io.kestra.plugin.jdbc.postgresql
    values:
      url: "{jdbc}"
      username: {role}
      password: {password}
"#
        )
    };
    let mut right = Harness::new(&flow("right"), true);
    assert_eq!(right.run_ok("who").await["row"]["name"], role);
    let mut wrong = Harness::new(&flow("wrong"), true);
    let (error, _) = wrong.run_failed("who").await;
    assert!(error.starts_with("cannot connect to "), "{error}");
    assert!(
        error.ends_with(&format!(
            "as {role}: password authentication failed for user \"{role}\""
        )),
        "{error}"
    );
    assert!(
        !error.contains("wrong"),
        "the password must not be shown: {error}"
    );
}

#[tokio::test]
async fn an_unreachable_server_fails_naming_it() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let flow = FLOW.replace(
        "url: \"{{ inputs.url }}\"",
        &format!("url: jdbc:postgresql://127.0.0.1:{port}/db\n      username: nobody"),
    );
    let mut harness = Harness::new(&flow, true);
    let (error, _) = harness.run_failed("none").await;
    assert!(
        error.starts_with(&format!(
            "cannot connect to 127.0.0.1:{port}/db as nobody: "
        )),
        "{error}"
    );
    assert!(
        error.to_lowercase().contains("connection refused"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_stops_the_query_on_the_server() {
    let mut harness = harness(FLOW).await;
    let cancel = Cancel::new();
    let killer = cancel.clone();
    let url = url(&harness);
    let watcher = tokio::spawn(async move {
        let mut conn = connect(&url).await;
        // Kill once the query runs, so the kill is mid-query, not before it.
        for _ in 0..200 {
            if sleeping(&mut conn).await > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        killer.cancel();
        conn
    });
    let (outcome, _) = harness.run_with("sleep", &cancel).await;
    assert_eq!(outcome.state, TaskState::Killed, "{outcome:?}");
    let mut conn = watcher.await.unwrap();
    // The server stops the query (a cancel is asynchronous: allow it a moment), instead of
    // running it for the two minutes it asked for.
    let mut left = sleeping(&mut conn).await;
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = sleeping(&mut conn).await;
    }
    assert_eq!(
        left, 0,
        "the query still runs on the server 10 s after the kill"
    );
}

/// How many sessions run `pg_sleep` right now.
async fn sleeping(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(120)%' \
         AND pid <> pg_backend_pid()",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

const COPY_FLOW: &str = r#"
id: copy
namespace: company.team
inputs:
  - id: url
    type: STRING
tasks:
  - id: create
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: |
      CREATE TABLE people (id int, name text, city text);
      CREATE TABLE copied (id int, name text, city text);
  - id: load_csv
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    from: "{{ inputs.csv }}"
    table: people
    format: CSV
    header: true
    columns: [id, name]
  - id: load_text
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    from: "{{ inputs.text }}"
    table: people
    delimiter: "|"
    nullString: "-"
  - id: export_csv
    type: io.kestra.plugin.jdbc.postgresql.CopyOut
    sql: SELECT id, name, city FROM people ORDER BY id
    format: CSV
    header: true
  - id: export_binary
    type: io.kestra.plugin.jdbc.postgresql.CopyOut
    table: people
    format: BINARY
  - id: load_binary
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    from: "{{ outputs.export_binary.uri }}"
    table: copied
    format: BINARY
  - id: count_copied
    type: io.kestra.plugin.jdbc.postgresql.Query
    sql: SELECT count(*) AS n, string_agg(name, ',' ORDER BY id) AS names FROM copied
    fetchType: FETCH_ONE
  - id: load_missing
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    from: "kestra:///company/team/copy/executions/exec1/tasks/none/r/missing.csv"
    table: people
  - id: load_bad
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    from: "{{ inputs.bad }}"
    table: people
    format: CSV
pluginDefaults:
  - type: io.kestra.plugin.jdbc.postgresql
    values:
      url: "{{ inputs.url }}"
"#;

async fn put(harness: &Harness, name: &str, text: &str) -> Value {
    let uri = format!("kestra:///company/team/copy/executions/exec1/inputs/{name}/{name}.txt");
    let storage = harness.storage.as_ref().unwrap();
    storage
        .put_bytes(
            &baton_storage::StorageUri::parse(&uri).unwrap(),
            text.as_bytes().to_vec(),
        )
        .await
        .unwrap();
    Value::String(uri)
}

#[tokio::test]
async fn copy_in_and_out_move_csv_text_and_binary_files() {
    let mut harness = harness(COPY_FLOW).await;
    harness.inputs["csv"] = put(&harness, "csv", "id,name\n1,Ada\n2,\"Grace, H.\"\n").await;
    harness.inputs["text"] = put(&harness, "text", "3|Alan|London\n4|-|-\n").await;
    harness.inputs["bad"] = put(&harness, "bad", "5,Kurt,Vienna\nsix,x,y\n").await;
    harness.run_ok("create").await;
    assert_eq!(harness.run_ok("load_csv").await, json!({"rowCount": 2}));
    assert_eq!(harness.run_ok("load_text").await, json!({"rowCount": 2}));

    let exported = harness.run_ok("export_csv").await;
    assert_eq!(exported["rowCount"], 4);
    let uri = exported["uri"].as_str().unwrap();
    assert!(
        uri.ends_with("/tasks/export_csv/run-export_csv/data.csv"),
        "{uri}"
    );
    let storage = harness.storage.clone().unwrap();
    let text = storage
        .read_text(&baton_storage::StorageUri::parse(uri).unwrap(), 10_000)
        .await
        .unwrap();
    assert_eq!(
        text,
        "id,name,city\n1,Ada,\n2,\"Grace, H.\",\n3,Alan,London\n4,,\n"
    );

    let binary = harness.run_ok("export_binary").await;
    assert!(binary.get("rowCount").is_none(), "{binary}");
    assert_eq!(harness.run_ok("load_binary").await, json!({"rowCount": 4}));
    assert_eq!(
        harness.run_ok("count_copied").await["row"],
        json!({"n": 4, "names": "Ada,Grace, H.,Alan"})
    );

    let (missing, _) = harness.run_failed("load_missing").await;
    assert_eq!(
        missing,
        "from: file kestra:///company/team/copy/executions/exec1/tasks/none/r/missing.csv not \
         found in internal storage"
    );
    let (bad, logs) = harness.run_failed("load_bad").await;
    assert!(
        bad.starts_with("ERROR 22P02: invalid input syntax for type integer: \"six\""),
        "{bad}"
    );
    assert!(
        bad.contains("WHERE: COPY people, line 2, column id: \"six\""),
        "{bad}"
    );
    assert!(lines(&logs).iter().any(|l| l.starts_with("ERROR 22P02")));
}
