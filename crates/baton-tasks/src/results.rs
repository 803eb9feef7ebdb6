//! What query tasks return (`postgres.queries`/`query`, `duckdb.queries`/`query`): per
//! statement that returns rows, per `fetchType`, the rows, the first row, or the URI of an Ion
//! file in internal storage ([`StoreFile`]), shaped into Kestra's outputs by [`outputs`].

use serde_json::{Map, Value, json};

use crate::RunContext;

/// Which task runs: `Many` is `postgres.queries` or `duckdb.queries`, `One` the `query` task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Statements {
    One,
    Many,
}

/// What one statement that returns rows gave.
#[derive(Default)]
pub(crate) struct Fetched {
    pub row: Option<Value>,
    pub rows: Option<Vec<Value>>,
    pub uri: Option<String>,
    pub size: u64,
}

/// A file on the worker that a `STORE` result is written to, then uploaded.
pub(crate) struct StoreFile {
    dir: tempfile::TempDir,
}

impl StoreFile {
    pub(crate) async fn create(run: &RunContext) -> Result<StoreFile, String> {
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

    pub(crate) fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("result")
    }

    /// Uploads the file as `name` under the task run; returns its `kestra://` URI.
    pub(crate) async fn upload(&self, run: &RunContext, name: &str) -> Result<String, String> {
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

pub(crate) fn outputs(statements: Statements, results: Vec<Fetched>) -> Value {
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
