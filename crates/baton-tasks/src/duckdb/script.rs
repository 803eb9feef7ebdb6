//! The DuckDB shell's input and output. The task's `sql` is split into statements (the Postgres
//! tasks' splitter: DuckDB quotes and comments as Postgres does) and each is preceded by a
//! `.print` marker line, so the output says which statement printed which lines. Rows come as
//! JSON lines (`.mode jsonlines`), one object per row.
//!
//! A statement gives a result when it is a query (`SELECT`, `WITH`, `FROM`, `VALUES`, `TABLE`,
//! `SHOW`, `DESCRIBE`, `SUMMARIZE`, `PRAGMA`, `EXPLAIN`, `CALL`, `PIVOT`, `UNPIVOT`) or has
//! `RETURNING`, as DuckDB's JDBC driver reports a result set for those and an update count for
//! the rest. JSON loses types that Kestra's outputs keep (decimals and huge integers come as
//! text, dates and timestamps as text), so a query's columns are first read with `DESCRIBE`
//! and each value is typed by its column's type.

use baton_core::flow::props::FetchType;
use baton_core::flow::task::LogLevel;
use serde_json::{Map, Value};
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::RunContext;
use crate::postgres::split;
use crate::results::{Fetched, StoreFile};
use crate::rows::{self, Cell, Row};

/// Marker lines start with this; rows (JSON objects) never do.
const MARK: &str = "#baton-statement";

/// What the shell's output for one marker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Output ignored: a statement without a result (or a `SET`).
    Quiet,
    /// The statement's column names and types (`DESCRIBE`).
    Columns,
    /// The statement's rows.
    Rows,
}

/// One statement of the task's `sql`.
struct Statement {
    text: String,
    /// 1-based line in `sql` where the statement starts.
    line: usize,
    query: bool,
    /// Whether `DESCRIBE` can read its columns (a plain query).
    typed: bool,
}

/// The shell script for a task's `sql`.
pub(super) struct Plan {
    statements: Vec<Statement>,
    prelude: Vec<String>,
}

impl Plan {
    pub fn new(sql: &str, time_zone: Option<&str>) -> Plan {
        let statements = split::statements(sql)
            .into_iter()
            .map(|s| {
                let line = sql[..s.offset].matches('\n').count() + 1;
                let text = s.text.trim().to_owned();
                let keyword = first_keyword(&text);
                let typed = matches!(
                    keyword.as_str(),
                    "SELECT" | "WITH" | "FROM" | "VALUES" | "TABLE"
                );
                let query = typed
                    || matches!(
                        keyword.as_str(),
                        "SHOW"
                            | "DESCRIBE"
                            | "SUMMARIZE"
                            | "PRAGMA"
                            | "EXPLAIN"
                            | "CALL"
                            | "PIVOT"
                            | "UNPIVOT"
                    )
                    || (matches!(keyword.as_str(), "INSERT" | "UPDATE" | "DELETE")
                        && text.to_ascii_uppercase().contains("RETURNING"));
                Statement {
                    text,
                    line: line + leading_lines(s.text),
                    query,
                    typed,
                }
            })
            .collect();
        let prelude = time_zone
            .map(|zone| vec![format!("SET TimeZone = '{}'", zone.replace('\'', "''"))])
            .unwrap_or_default();
        Plan {
            statements,
            prelude,
        }
    }

    /// The shell's input.
    pub fn text(&self) -> String {
        let mut out = String::from(".mode jsonlines\n");
        for statement in &self.prelude {
            out.push_str(statement);
            out.push_str(";\n");
        }
        for (i, statement) in self.statements.iter().enumerate() {
            // The `;` on its own line: a statement may end with a `--` comment.
            if statement.query && statement.typed {
                out.push_str(&format!(".print {MARK} {i} columns\n"));
                out.push_str(&format!("DESCRIBE {}\n;\n", statement.text));
            }
            let part = if statement.query { "rows" } else { "quiet" };
            out.push_str(&format!(".print {MARK} {i} {part}\n"));
            out.push_str(&statement.text);
            out.push_str("\n;\n");
        }
        out
    }

    /// The task's error when the shell failed, logged at ERROR: DuckDB's message, with the
    /// statement that failed (`current`, the last one the shell started) and its line in `sql`.
    pub fn error(
        &self,
        run: &RunContext,
        current: Option<usize>,
        stderr: &str,
        code: Option<i32>,
    ) -> String {
        let message = if stderr.is_empty() {
            match code {
                Some(code) => format!("the DuckDB shell exited with code {code}"),
                None => "the DuckDB shell was ended by a signal".to_owned(),
            }
        } else {
            stderr.to_owned()
        };
        let message = match current.and_then(|i| self.statements.get(i).map(|s| (i, s))) {
            Some((i, statement)) => format!(
                "statement {} (line {} of sql): {message}",
                i + 1,
                statement.line
            ),
            None => message,
        };
        run.logs.log(LogLevel::Error, message.clone());
        message
    }
}

/// The first word of a statement, upper-cased, after comments and opening parentheses.
fn first_keyword(text: &str) -> String {
    let mut rest = text;
    loop {
        rest = rest.trim_start().trim_start_matches('(').trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, next)| next);
        } else {
            break;
        }
    }
    rest.chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Blank lines the splitter left at the start of a statement.
fn leading_lines(text: &str) -> usize {
    let trimmed = text.trim_start();
    text[..text.len() - trimmed.len()].matches('\n').count()
}

/// Reads the shell's output line by line into results, per `fetchType`.
pub(super) struct Reader<'a> {
    fetch: FetchType,
    run: &'a RunContext,
    current: Option<(usize, Part)>,
    columns: Vec<(String, String)>,
    fetched: Option<Fetched>,
    store: Option<(StoreFile, BufWriter<tokio::fs::File>)>,
    results: Vec<Fetched>,
}

impl<'a> Reader<'a> {
    pub fn new(fetch: FetchType, run: &'a RunContext) -> Reader<'a> {
        Reader {
            fetch,
            run,
            current: None,
            columns: Vec::new(),
            fetched: None,
            store: None,
            results: Vec::new(),
        }
    }

    /// The statement the shell started last.
    pub fn current(&self) -> Option<usize> {
        self.current.map(|(i, _)| i)
    }

    pub async fn line(&mut self, line: &str) -> Result<(), String> {
        if let Some(mark) = line.strip_prefix(MARK) {
            self.end_part().await?;
            let mut words = mark.split_whitespace();
            let index = words.next().and_then(|w| w.parse::<usize>().ok());
            let part = match words.next() {
                Some("columns") => Part::Columns,
                Some("rows") => Part::Rows,
                _ => Part::Quiet,
            };
            self.current = index.map(|i| (i, part));
            if part == Part::Rows {
                self.start_rows().await?;
            }
            return Ok(());
        }
        let Some((_, part)) = self.current else {
            return Ok(());
        };
        if part == Part::Quiet || line.trim().is_empty() {
            return Ok(());
        }
        let object: Map<String, Value> = serde_json::from_str(line)
            .map_err(|e| format!("cannot read the DuckDB shell's output ({e}): {line}"))?;
        match part {
            Part::Columns => {
                let text = |key: &str| {
                    object
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                self.columns
                    .push((text("column_name"), text("column_type")));
            }
            Part::Rows => self.row(object).await?,
            Part::Quiet => {}
        }
        Ok(())
    }

    async fn start_rows(&mut self) -> Result<(), String> {
        if self.fetch == FetchType::None {
            return Ok(());
        }
        self.fetched = Some(Fetched::default());
        if self.fetch == FetchType::Store {
            let file = StoreFile::create(self.run).await?;
            let writer = BufWriter::new(
                tokio::fs::File::create(file.path())
                    .await
                    .map_err(|e| format!("cannot write the result file: {e}"))?,
            );
            self.store = Some((file, writer));
        }
        Ok(())
    }

    async fn row(&mut self, object: Map<String, Value>) -> Result<(), String> {
        let Some(fetched) = self.fetched.as_mut() else {
            return Ok(());
        };
        let row: Row = object
            .into_iter()
            .map(|(name, value)| {
                let kind = self
                    .columns
                    .iter()
                    .find(|(column, _)| *column == name)
                    .map(|(_, kind)| kind.as_str());
                let cell = cell(kind, value);
                (name, cell)
            })
            .collect();
        match self.fetch {
            FetchType::FetchOne if fetched.row.is_none() => {
                fetched.row = Some(rows::row_json(&row));
                fetched.size = 1;
            }
            FetchType::Fetch => {
                fetched
                    .rows
                    .get_or_insert_with(Vec::new)
                    .push(rows::row_json(&row));
                fetched.size += 1;
            }
            FetchType::Store => {
                if let Some((_, writer)) = self.store.as_mut() {
                    writer
                        .write_all(rows::row_ion(&row).as_bytes())
                        .await
                        .map_err(|e| format!("cannot write the result file: {e}"))?;
                }
                fetched.size += 1;
            }
            _ => {}
        }
        Ok(())
    }

    /// Closes the statement whose output was being read.
    async fn end_part(&mut self) -> Result<(), String> {
        let Some((_, part)) = self.current.take() else {
            return Ok(());
        };
        if part != Part::Rows {
            return Ok(());
        }
        self.columns.clear();
        let Some(mut fetched) = self.fetched.take() else {
            return Ok(());
        };
        if self.fetch == FetchType::Fetch && fetched.rows.is_none() {
            fetched.rows = Some(Vec::new());
        }
        if let Some((file, mut writer)) = self.store.take() {
            writer
                .flush()
                .await
                .map_err(|e| format!("cannot write the result file: {e}"))?;
            drop(writer);
            let name = format!("result-{}.ion", self.results.len() + 1);
            fetched.uri = Some(file.upload(self.run, &name).await?);
        }
        self.results.push(fetched);
        Ok(())
    }

    /// Every result, once the shell has ended well.
    pub async fn finish(mut self) -> Result<Vec<Fetched>, String> {
        self.end_part().await?;
        Ok(self.results)
    }
}

/// A value of the shell's JSON output as a typed cell, by its column's DuckDB type when known.
fn cell(kind: Option<&str>, value: Value) -> Cell {
    let kind = kind.unwrap_or_default().to_ascii_uppercase();
    match value {
        Value::Null => Cell::Null,
        Value::String(text) if kind.starts_with("DECIMAL") || kind.ends_with("HUGEINT") => {
            Cell::Decimal(text)
        }
        Value::String(text) if kind == "DATE" => Cell::Date(text),
        Value::String(text)
            if kind.starts_with("TIMESTAMP") && text.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Cell::DateTime(iso_timestamp(&text))
        }
        Value::Bool(b) => Cell::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => match n.as_f64() {
                Some(f) if n.is_f64() => Cell::Float(f),
                _ => Cell::Decimal(n.to_string()),
            },
        },
        Value::String(text) => Cell::Text(text),
        other => Cell::Json(other),
    }
}

/// DuckDB's `2024-01-31 10:00:00+00` as ISO-8601 `2024-01-31T10:00:00+00:00`.
fn iso_timestamp(text: &str) -> String {
    let mut out = text.replacen(' ', "T", 1);
    let time_start = out.find('T').map_or(out.len(), |i| i + 1);
    if let Some(sign) = out[time_start..].rfind(['+', '-']) {
        let offset = &out[time_start + sign + 1..];
        if offset.len() == 2 && offset.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(":00");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_classified_and_located() {
        let plan = Plan::new(
            "CREATE TABLE t AS SELECT 1 AS a;\n\n-- the rows\nSELECT * FROM t;\nINSERT INTO t \
             VALUES (2) RETURNING a",
            None,
        );
        let kinds: Vec<(bool, bool, usize)> = plan
            .statements
            .iter()
            .map(|s| (s.query, s.typed, s.line))
            .collect();
        assert_eq!(
            kinds,
            [(false, false, 1), (true, true, 3), (true, false, 5)]
        );
        assert!(
            plan.text()
                .contains("DESCRIBE -- the rows\nSELECT * FROM t\n;\n")
        );
    }

    #[test]
    fn values_are_typed_by_their_column() {
        assert_eq!(
            cell(Some("DECIMAL(10,2)"), Value::from("12.50")),
            Cell::Decimal("12.50".to_owned())
        );
        assert_eq!(
            cell(
                Some("TIMESTAMP WITH TIME ZONE"),
                Value::from("2024-01-31 10:00:00+00")
            ),
            Cell::DateTime("2024-01-31T10:00:00+00:00".to_owned())
        );
        assert_eq!(
            cell(Some("TIMESTAMP"), Value::from("2024-01-31 10:00:00")),
            Cell::DateTime("2024-01-31T10:00:00".to_owned())
        );
        assert_eq!(
            cell(Some("VARCHAR"), Value::from("2024-01-31")),
            Cell::Text("2024-01-31".to_owned())
        );
        assert_eq!(cell(None, Value::from(3)), Cell::Int(3));
        assert_eq!(cell(None, Value::from(0.5)), Cell::Float(0.5));
    }
}
