//! `postgres.copy_in` of a file far larger than any buffer, into a real Postgres, with the
//! worker's peak memory staying flat. Alone in its test binary, so the process's peak memory is
//! this test's (nextest also runs every test in a process of its own).
//!
//! `cargo nextest run -p baton-tasks --run-ignored all -E 'test(gigabyte)'` runs the 1 GiB
//! measurement, which prints the memory growth and the throughput.

mod support;

use std::time::Instant;

use baton_storage::StorageUri;
use baton_store::testing::PgServer;
use bytes::Bytes;
use serde_json::json;
use support::Harness;

const FLOW: &str = r#"
id: big
namespace: company.team
inputs:
  - id: url
    type: STRING
tasks:
  - id: create
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: CREATE UNLOGGED TABLE trips (id bigint, vendor text, fare numeric, note text)
  - id: load
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    from: "{{ inputs.file }}"
    table: trips
    format: CSV
    header: true
pluginDefaults:
  - type: io.kestra.plugin.jdbc.postgresql
    values:
      url: "{{ inputs.url }}"
"#;

/// The process's peak resident set size (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM value");
    kib * 1024
}

/// Stores a CSV file of about `bytes` bytes, generated a chunk at a time; returns its URI and
/// row count.
async fn generate(harness: &Harness, bytes: u64) -> (String, u64) {
    let uri = "kestra:///company/team/big/executions/exec1/inputs/file/trips.csv";
    let mut rows = 0u64;
    let mut written = 0u64;
    let chunks = std::iter::from_fn(move || {
        if written >= bytes {
            return None;
        }
        let mut chunk = String::with_capacity(1 << 20);
        if written == 0 {
            chunk.push_str("id,vendor,fare,note\n");
        }
        while chunk.len() < (1 << 20) - 100 {
            rows += 1;
            chunk.push_str(&format!(
                "{rows},vendor-{},{}.{:02},\"a note, with a comma\"\n",
                rows % 7,
                rows % 90,
                rows % 100
            ));
        }
        written += chunk.len() as u64;
        Some(Ok::<_, std::io::Error>(Bytes::from(chunk)))
    });
    let storage = harness.storage.as_ref().unwrap();
    let uri = StorageUri::parse(uri).unwrap();
    let size = storage
        .put_stream(&uri, futures_util::stream::iter(chunks))
        .await
        .unwrap();
    assert!(size >= bytes);
    let count: u64 = {
        // Count the rows back from the file's lines (less the header), streaming.
        use futures_util::StreamExt;
        let mut download = storage.get_stream(&uri).await.unwrap();
        let mut lines = 0u64;
        while let Some(chunk) = download.chunks.next().await {
            lines += chunk.unwrap().iter().filter(|b| **b == b'\n').count() as u64;
        }
        lines - 1
    };
    (uri.to_string(), count)
}

/// Loads a generated file of `bytes` bytes; returns the peak memory growth in bytes.
async fn load(bytes: u64) -> u64 {
    let mut harness = Harness::new(FLOW, true);
    let (file, rows) = generate(&harness, bytes).await;
    harness.inputs = json!({
        "url": PgServer::get().fresh_database_url().await,
        "file": file,
    });
    harness.run_ok("create").await;
    let before = peak_rss();
    let started = Instant::now();
    let outputs = harness.run_ok("load").await;
    let elapsed = started.elapsed();
    assert_eq!(outputs["rowCount"], rows);
    let growth = peak_rss().saturating_sub(before);
    println!(
        "copy_in of {} MiB ({rows} rows): {:.1} s, {:.0} MiB/s, peak memory grew by {} MiB \
         (process peak {} MiB)",
        bytes >> 20,
        elapsed.as_secs_f64(),
        (bytes >> 20) as f64 / elapsed.as_secs_f64(),
        growth >> 20,
        peak_rss() >> 20
    );
    growth
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_streams_a_large_file_in_bounded_memory() {
    let growth = load(128 << 20).await;
    assert!(
        growth < 48 << 20,
        "peak memory grew by {} MiB loading a 128 MiB file",
        growth >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: loads 1 GiB into Postgres and prints memory and throughput"]
async fn copy_in_a_gigabyte() {
    load(1 << 30).await;
}
