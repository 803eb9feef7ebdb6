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
use baton_store::{LogCursor, LogLevel, LogRecord};
use futures_util::Stream;
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
struct LineFilter {
    /// The least severe level shown: `WARN` shows ERROR and WARN.
    min_level: LogLevel,
    task_run_id: Option<String>,
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

fn line_json(record: &LogRecord, task_ids: &HashMap<String, String>) -> Value {
    let entry = &record.entry;
    json!({
        "executionId": entry.execution_id,
        "taskRunId": entry.task_run_id,
        "taskId": entry.task_run_id.as_ref().and_then(|id| task_ids.get(id)),
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
        .map(|record| line_json(record, &task_ids))
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
    let follower = Follower {
        state,
        id,
        filter,
        cursor: None,
        sent: 0,
        pending: VecDeque::new(),
        ended: false,
    };
    Ok(Sse::new(follower.into_stream()).keep_alive(KeepAlive::default()))
}

struct Follower {
    state: ApiState,
    id: Uuid,
    filter: LineFilter,
    /// The store's position after the last line read.
    cursor: Option<LogCursor>,
    /// Lines sent, the event id of the next one.
    sent: u64,
    pending: VecDeque<Event>,
    /// The `end` event is queued; nothing is read any more.
    ended: bool,
}

impl Follower {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
        // `unfold` drives the polling only while the client reads, and stops when it hangs up
        // (the stream is dropped), so no task outlives a follower.
        futures_util::stream::unfold(self, |mut follower| async move {
            let event = follower.next_event().await?;
            Some((Ok(event), follower))
        })
    }

    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            if let Err(error) = self.poll().await {
                tracing::warn!(execution_id = %self.id, ?error, "log follower stopped");
                self.pending.push_back(
                    Event::default()
                        .event("error")
                        .data(json!({"message": error.to_string()}).to_string()),
                );
                self.ended = true;
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
        for record in records.iter().filter(|r| self.filter.accepts(r)) {
            self.pending.push_back(
                Event::default()
                    .id(self.sent.to_string())
                    .data(line_json(record, &task_ids).to_string()),
            );
            self.sent += 1;
        }
        if full {
            return Ok(());
        }
        if row.state.is_terminal() {
            self.pending.push_back(
                Event::default()
                    .event("end")
                    .data(json!({"executionId": self.id, "state": row.state}).to_string()),
            );
            self.ended = true;
        } else if self.pending.is_empty() {
            tokio::time::sleep(self.state.options.follow_poll).await;
        }
        Ok(())
    }
}
