//! The flows Kestra users write, end to end: the shared examples (`flows/examples`) and the
//! course's flows 02–05 (`flows/seeds`, written out from `seeds/001_*`), run by a whole Baton
//! (executor, hub, workers over gRPC) against a real Postgres as the user's database, real
//! Docker containers, and an HTTP server started here that serves generated data in place of
//! the internet (`http://data.test` in the fixtures is replaced by its address).

use std::io::Write as _;
use std::process::{Command, Stdio};

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use baton_core::execution::{Execution, State, TaskRun};
use baton_store::testing::PgServer;
use baton_tests::TestCluster;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

/// Trips per generated month file.
const TRIPS: usize = 300;

fn fixture(path: &str) -> String {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("flows")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A month of trips as the course's files hold them (fewer columns), gzipped.
fn trips_gz(taxi: &str, month: &str) -> Vec<u8> {
    let prefix = if taxi == "green" { "lpep" } else { "tpep" };
    let mut csv = format!(
        "VendorID,{prefix}_pickup_datetime,{prefix}_dropoff_datetime,passenger_count,\
         trip_distance,PULocationID,DOLocationID,fare_amount,total_amount\n"
    );
    for i in 0..TRIPS {
        let day = i % 28 + 1;
        let (hour, minute) = (i / 28 % 24, i % 60);
        csv.push_str(&format!(
            "{},{month}-{day:02} {hour:02}:{minute:02}:00,{month}-{day:02} {hour:02}:{:02}:30,{},{}.{},{},{},{}.5,{}.8\n",
            i % 2 + 1,
            (minute + 7) % 60,
            i % 4 + 1,
            i % 9,
            i % 10,
            100 + i % 50,
            200 + i % 60,
            5 + i % 30,
            7 + i % 30,
        ));
    }
    let mut gzip = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    gzip.stdin
        .take()
        .unwrap()
        .write_all(csv.as_bytes())
        .unwrap();
    let output = gzip.wait_with_output().unwrap();
    assert!(output.status.success());
    output.stdout
}

/// Serves what the fixtures download; returns its base URL.
async fn data_server() -> String {
    let router = Router::new()
        .route(
            "/orders.csv",
            get(|| async {
                "# exported by the shop\nname,amount\nada,10.5\n# a comment line\ngrace,20\nalan,7.25\n"
            }),
        )
        .route(
            "/v2/repositories/kestra/kestra/",
            get(|| async { axum::Json(json!({"name": "kestra", "pull_count": 123_456})) }),
        )
        .route(
            "/products",
            get(|| async {
                axum::Json(json!({"products": [
                    {"id": 1, "brand": "Essence", "price": 9.99, "title": "Mascara"},
                    {"id": 2, "brand": "Essence", "price": 4.99, "title": "Lipstick"},
                    {"id": 3, "brand": "Glamour", "price": 19.5, "title": "Powder"},
                    {"id": 4, "title": "No brand", "price": 1.0},
                ], "total": 4, "skip": 0}))
            }),
        )
        .route(
            "/{taxi}/{file}",
            get(|Path((taxi, file)): Path<(String, String)>| async move {
                // {taxi}_tripdata_{yyyy-MM}.csv.gz
                let month = file
                    .strip_prefix(&format!("{taxi}_tripdata_"))
                    .and_then(|rest| rest.strip_suffix(".csv.gz"));
                match month {
                    Some(month) if taxi == "yellow" || taxi == "green" => {
                        Ok(trips_gz(&taxi, month))
                    }
                    _ => Err(StatusCode::NOT_FOUND),
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// A fresh database of the test Postgres: its libpq URL and its JDBC URL.
async fn user_database() -> (String, String) {
    let url = PgServer::get().fresh_database_url().await;
    let jdbc = url.replace("postgres://postgres@", "jdbc:postgresql://");
    (url, jdbc)
}

/// The course logs in as `root`/`root`: the role exists on the test server (a superuser, so it
/// may create tables in any fresh database).
async fn ensure_root_role(url: &str) {
    let mut conn = connect(url).await;
    let created = sqlx::raw_sql("CREATE ROLE root LOGIN SUPERUSER PASSWORD 'root'")
        .execute(&mut conn)
        .await;
    if let Err(error) = created {
        // Another test of this binary created it first.
        let code = error.as_database_error().and_then(|e| e.code());
        assert!(
            matches!(code.as_deref(), Some("42710" | "23505")),
            "{error}"
        );
    }
}

async fn connect(url: &str) -> PgConnection {
    let options: PgConnectOptions = url.parse().unwrap();
    PgConnection::connect_with(&options).await.unwrap()
}

async fn count(url: &str, table: &str) -> i64 {
    let mut conn = connect(url).await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

fn task_run<'a>(execution: &'a Execution, id: &str) -> &'a TaskRun {
    execution
        .task_runs
        .iter()
        .find(|r| r.task_id == id)
        .unwrap_or_else(|| panic!("no task run {id} in {:?}", execution.task_runs))
}

async fn succeeded(cluster: &TestCluster, id: &str) -> anyhow::Result<Execution> {
    let execution = cluster.wait_until_ended(id).await?;
    if execution.state != State::Success {
        let logs: Vec<String> = cluster
            .logs(id)
            .await?
            .into_iter()
            .map(|l| format!("{:?} {}", l.entry.level, l.entry.message))
            .collect();
        anyhow::bail!(
            "execution ended {}: {:?}\nlogs:\n{}",
            execution.state,
            execution
                .task_runs
                .iter()
                .map(|r| (&r.task_id, r.state, &r.error))
                .collect::<Vec<_>>(),
            logs.join("\n")
        );
    }
    Ok(execution)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_to_postgres_downloads_cleans_loads_and_counts() -> anyhow::Result<()> {
    let base = data_server().await;
    let (url, jdbc) = user_database().await;
    let flow = fixture("examples/csv_to_postgres.yaml")
        .replace("jdbc:postgresql://localhost:5432/examples", &jdbc);
    let cluster = TestCluster::builder().start().await?;
    cluster.deploy(&flow).await?;
    let csv_url = format!("{base}/orders.csv");
    let id = cluster
        .execute("examples", "csv_to_postgres", &[("csv_url", &csv_url)])
        .await?;
    let execution = succeeded(&cluster, &id).await?;
    assert_eq!(task_run(&execution, "load").outputs["rowCount"], 3);
    assert_eq!(
        task_run(&execution, "count").outputs["row"],
        json!({"n": 3})
    );
    let logs = cluster.logs(&id).await?;
    assert!(
        logs.iter()
            .any(|l| l.entry.message == "3 rows in public.example_rows"),
        "{logs:?}"
    );
    assert_eq!(count(&url, "public.example_rows").await, 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_report_runs_its_python_container_when_its_schedule_fires() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().start().await?;
    cluster
        .deploy(&fixture("examples/nightly_report.yaml"))
        .await?;
    // What the eu schedule passes when it fires (there is no scheduler yet to fire it).
    let id = cluster
        .execute_triggered(
            "examples",
            "nightly_report",
            &[("region", "eu")],
            json!({"date": "2024-03-10T02:30:00+01:00"}),
        )
        .await?;
    let execution = succeeded(&cluster, &id).await?;
    assert_eq!(
        task_run(&execution, "in_a_container").outputs["vars"],
        json!({"region": "eu", "rows": 42})
    );
    let logs = cluster.logs(&id).await?;
    assert!(
        logs.iter()
            .any(|l| l.entry.message == "report for eu on 2024-03-10"),
        "{logs:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_02_a_python_container_reads_an_api_and_returns_outputs() -> anyhow::Result<()> {
    let base = data_server().await;
    let cluster = TestCluster::builder().start().await?;
    cluster
        .deploy(&fixture("seeds/02_python.yaml").replace("http://data.test", &base))
        .await?;
    let id = cluster.execute("zoomcamp", "python_scripts", &[]).await?;
    let execution = succeeded(&cluster, &id).await?;
    assert_eq!(
        task_run(&execution, "collect_stats").outputs["vars"],
        json!({"downloads": 123_456})
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_03_extracts_transforms_in_a_container_and_queries_with_duckdb() -> anyhow::Result<()>
{
    let base = data_server().await;
    let cluster = TestCluster::builder().start().await?;
    cluster
        .deploy(
            &fixture("seeds/03_getting_started_data_pipeline.yaml")
                .replace("http://data.test", &base),
        )
        .await?;
    let id = cluster
        .execute("zoomcamp", "getting_started_data_pipeline", &[])
        .await?;
    let execution = succeeded(&cluster, &id).await?;
    let query = &task_run(&execution, "query").outputs;
    assert_eq!(query["size"], 3);
    let uri = baton_storage::StorageUri::parse(query["uri"].as_str().unwrap())?;
    let stored = cluster.storage.read_text(&uri, 10_000).await?;
    assert_eq!(
        stored,
        "{brand:\"Glamour\",avg_price:1.95e1}\n{brand:\"Essence\",avg_price:7.49e0}\n\
         {brand:\"N/A\",avg_price:1e0}\n"
    );
    Ok(())
}

/// Deploys flow 04 or 05 with the data server and the user's database filled in.
async fn taxi_cluster(file: &str) -> anyhow::Result<(TestCluster, String)> {
    let base = data_server().await;
    let (url, jdbc) = user_database().await;
    ensure_root_role(&url).await;
    let flow = fixture(file)
        .replace("http://data.test", &base)
        .replace("jdbc:postgresql://pgdatabase:5432/ny_taxi", &jdbc);
    let cluster = TestCluster::builder().start().await?;
    cluster.deploy(&flow).await?;
    Ok((cluster, url))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_04_loads_a_month_of_trips_and_a_second_run_adds_nothing() -> anyhow::Result<()> {
    let (cluster, url) = taxi_cluster("seeds/04_postgres_taxi.yaml").await?;
    let inputs = [("taxi", "green"), ("year", "2019"), ("month", "03")];
    let first = cluster
        .execute("zoomcamp", "postgres_taxi", &inputs)
        .await?;
    let execution = succeeded(&cluster, &first).await?;
    assert_eq!(
        execution.labels.get("file").map(String::as_str),
        Some("green_tripdata_2019-03.csv")
    );
    assert_eq!(
        task_run(&execution, "green_copy_in_to_staging_table").outputs["rowCount"],
        TRIPS
    );
    // Only the green branch ran; the purge removed the downloaded file.
    assert!(
        !execution
            .task_runs
            .iter()
            .any(|r| r.task_id.starts_with("yellow_"))
    );
    assert_eq!(
        task_run(&execution, "purge_files").outputs["uris"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(count(&url, "public.green_tripdata").await, TRIPS as i64);

    let second = cluster
        .execute("zoomcamp", "postgres_taxi", &inputs)
        .await?;
    succeeded(&cluster, &second).await?;
    assert_eq!(
        count(&url, "public.green_tripdata").await,
        TRIPS as i64,
        "the MERGE on the rows' fingerprints makes a second load add nothing"
    );
    let mut conn = connect(&url).await;
    let files: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT filename FROM public.green_tripdata")
            .fetch_all(&mut conn)
            .await?;
    assert_eq!(files, ["green_tripdata_2019-03.csv"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_05_loads_the_month_of_its_schedule() -> anyhow::Result<()> {
    let (cluster, url) = taxi_cluster("seeds/05_postgres_taxi_scheduled.yaml").await?;
    // What the yellow schedule passes when it fires on 1 February 2019 at 10:00.
    for _ in 0..2 {
        let id = cluster
            .execute_triggered(
                "zoomcamp",
                "postgres_taxi_scheduled",
                &[("taxi", "yellow")],
                json!({"date": "2019-02-01T10:00:00Z"}),
            )
            .await?;
        let execution = succeeded(&cluster, &id).await?;
        assert_eq!(
            execution.labels.get("file").map(String::as_str),
            Some("yellow_tripdata_2019-02.csv")
        );
        assert_eq!(count(&url, "public.yellow_tripdata").await, TRIPS as i64);
    }
    Ok(())
}
