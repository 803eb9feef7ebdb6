//! `/api/v1/logs/{executionId}`: a page of an execution's log lines, and `/follow`, the same
//! lines live as Server-Sent Events.
//!
//! The page cursor (`after`, answered as `next`) is opaque to clients. Today it is the number
//! of lines already read: the store returns an execution's lines in a stable order (on Postgres
//! a line that commits late never lands behind one already returned), so a count is a sound
//! position, but reading a page costs the lines before it. The follower keeps the store's own
//! cursor in memory instead, so following stays cheap.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use baton_core::execution::State as ExecutionState;
use baton_store::{LogCursor, LogLevel, LogRecord};
use futures_util::{Stream, StreamExt as _};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::executions::execution_id;
use crate::query::Params;

const DEFAULT_LIMIT: u32 = 1_000;
const MAX_LIMIT: u32 = 10_000;
/// Lines a follower reads per store call.
const FOLLOW_BATCH: u32 = 500;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/logs/{execution_id}", get(page))
        .route("/logs/{execution_id}/follow", get(follow))
}

/// Which lines a client wants.
pub(crate) struct LineFilter {
    /// The least severe level shown: `WARN` shows ERROR and WARN.
    pub min_level: LogLevel,
    pub task_run_id: Option<String>,
}

impl LineFilter {
    fn from_params(params: &Params) -> ApiResult<Self> {
        let min_level = match params.get("minLevel") {
            Some(text) => text.to_ascii_uppercase().parse().map_err(|_| {
                ApiError::BadRequest(format!(
                    "query parameter minLevel={text:?}: expected ERROR, WARN, INFO, DEBUG or TRACE"
                ))
            })?,
            None => LogLevel::Trace,
        };
        Ok(Self {
            min_level,
            task_run_id: params.get("taskRunId").map(str::to_owned),
        })
    }

    fn accepts(&self, record: &LogRecord) -> bool {
        record.entry.level <= self.min_level
            && self
                .task_run_id
                .as_ref()
                .is_none_or(|id| record.entry.task_run_id.as_ref() == Some(id))
    }
}

/// Task run id → task id, read from the execution document, so lines can name their task.
fn task_ids(document: &Value) -> HashMap<String, String> {
    document
        .get("taskRuns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|run| {
            Some((
                run.get("id")?.as_str()?.to_owned(),
                run.get("taskId")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// The task id of a line's task run, when the line has one.
fn task_id_of(record: &LogRecord, task_ids: &HashMap<String, String>) -> Option<String> {
    record
        .entry
        .task_run_id
        .as_ref()
        .and_then(|id| task_ids.get(id))
        .cloned()
}

fn line_json(record: &LogRecord, task_id: Option<&str>) -> Value {
    let entry = &record.entry;
    json!({
        "executionId": entry.execution_id,
        "taskRunId": entry.task_run_id,
        "taskId": task_id,
        "attempt": entry.attempt,
        "level": entry.level.as_str(),
        "timestamp": entry.timestamp,
        "message": entry.message,
    })
}

/// `GET /api/v1/logs/{executionId}?after=&limit=&minLevel=&taskRunId=`:
/// `{"results": [...], "next": "..."}`; pass `next` back as `after` to read on, also to poll
/// for lines written since.
async fn page(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let id = execution_id(&id)?;
    let params = Params(query);
    let filter = LineFilter::from_params(&params)?;
    let skip = params.parse::<u32>("after")?.unwrap_or(0);
    let limit = params
        .parse::<u32>("limit")?
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, MAX_LIMIT);
    let row = state.store.get_execution(id).await?;
    let task_ids = task_ids(&row.document);
    let records = state
        .store
        .logs(id, None, skip.saturating_add(limit))
        .await?;
    let read = records.len().saturating_sub(skip as usize);
    let results: Vec<Value> = records
        .iter()
        .skip(skip as usize)
        .filter(|record| filter.accepts(record))
        .map(|record| line_json(record, task_id_of(record, &task_ids).as_deref()))
        .collect();
    let next = (skip as usize + read).to_string();
    Ok(Json(json!({"results": results, "next": next})))
}

/// `GET /api/v1/logs/{executionId}/follow?minLevel=&taskRunId=`: every line so far, then new
/// ones as they are written (the store is polled every [`crate::ApiOptions::follow_poll`]),
/// one `data:` JSON event per line; an `end` event with the final state once the execution has
/// ended and all its lines were sent.
async fn follow(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let id = execution_id(&id)?;
    let filter = LineFilter::from_params(&Params(query))?;
    // Answer 404 now, not as an event in a 200 stream.
    state.store.get_execution(id).await?;
    let mut sent = 0u64;
    let events = read_lines(state, id, filter, true).map(move |item| {
        Ok::<_, Infallible>(match item {
            Ok(FollowedLog::Line { record, task_id }) => {
                sent += 1;
                Event::default()
                    .id((sent - 1).to_string())
                    .data(line_json(&record, task_id.as_deref()).to_string())
            }
            Ok(FollowedLog::End(state)) => Event::default()
                .event("end")
                .data(json!({"executionId": id, "state": state}).to_string()),
            Err(error) => Event::default()
                .event("error")
                .data(json!({"message": error.to_string()}).to_string()),
        })
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// What [`read_lines`] hands out.
pub(crate) enum FollowedLog {
    /// A line, with the task id of its task run (read from the execution).
    Line {
        record: LogRecord,
        task_id: Option<String>,
    },
    /// Following only, last: the execution ended in this state and every line was sent.
    End(ExecutionState),
}

/// The execution's lines that pass `filter`, oldest first. With `follow`, new lines as they
/// are written (the store is polled every [`crate::ApiOptions::follow_poll`]) and then
/// [`FollowedLog::End`] once the execution has ended; without, the stream ends after the lines
/// there are now. A store error is the stream's last item. Polling happens only while the
/// caller reads, and stops when it drops the stream, so no task outlives a reader.
pub(crate) fn read_lines(
    state: ApiState,
    id: Uuid,
    filter: LineFilter,
    follow: bool,
) -> impl Stream<Item = Result<FollowedLog, baton_store::Error>> + Send + 'static {
    let follower = Follower {
        state,
        id,
        filter,
        follow,
        cursor: None,
        pending: VecDeque::new(),
        ended: false,
    };
    futures_util::stream::unfold(follower, |mut follower| async move {
        let item = follower.next_item().await?;
        Some((item, follower))
    })
}

struct Follower {
    state: ApiState,
    id: Uuid,
    filter: LineFilter,
    /// Keep reading until the execution has ended.
    follow: bool,
    /// The store's position after the last line read.
    cursor: Option<LogCursor>,
    pending: VecDeque<FollowedLog>,
    /// Nothing is read any more: the end was queued, or an error was handed out.
    ended: bool,
}

impl Follower {
    async fn next_item(&mut self) -> Option<Result<FollowedLog, baton_store::Error>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(Ok(item));
            }
            if self.ended {
                return None;
            }
            if let Err(error) = self.poll().await {
                tracing::warn!(execution_id = %self.id, ?error, "log follower stopped");
                self.ended = true;
                return Some(Err(error));
            }
        }
    }

    /// One round: the execution's state first, then its new lines. Ends only when the state
    /// read *before* the lines was terminal and the lines came back short of a full batch, so
    /// a line written just before the end is never missed.
    async fn poll(&mut self) -> Result<(), baton_store::Error> {
        let store = &self.state.store;
        let row = store.get_execution(self.id).await?;
        let records = store.logs(self.id, self.cursor, FOLLOW_BATCH).await?;
        let full = records.len() >= FOLLOW_BATCH as usize;
        if let Some(last) = records.last() {
            self.cursor = Some(last.cursor);
        }
        let task_ids = if records.is_empty() {
            HashMap::new()
        } else {
            task_ids(&row.document)
        };
        for record in records {
            if self.filter.accepts(&record) {
                let task_id = task_id_of(&record, &task_ids);
                self.pending
                    .push_back(FollowedLog::Line { record, task_id });
            }
        }
        if full {
            return Ok(());
        }
        if !self.follow {
            self.ended = true;
        } else if row.state.is_terminal() {
            self.pending.push_back(FollowedLog::End(row.state));
            self.ended = true;
        } else if self.pending.is_empty() {
            tokio::time::sleep(self.state.options.follow_poll).await;
        }
        Ok(())
    }
}
