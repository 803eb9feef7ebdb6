//! `GET /api/v1/executions/{executionId}/follow`: the execution document as Server-Sent
//! Events, and `?wait=true` on creation: both watch one execution until it ends.
//!
//! The executor publishes no change notification, so both poll the store; the follower
//! compares the row's `version` (the store bumps it on every write) to send a document only
//! when it changed.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use baton_store::Execution as ExecutionRow;
use futures_util::{Stream, StreamExt as _};
use serde_json::json;
use tokio::time::Instant;
use uuid::Uuid;

use crate::ApiState;
use crate::error::ApiResult;

/// Reads the execution until it has ended or [`crate::ApiOptions::max_wait`] has passed, and
/// returns it as it is then. Dropping the future (the client hung up) stops the polling.
///
/// The pause between reads is an eighth of the time waited so far, from 1 ms up to
/// [`crate::ApiOptions::wait_poll`]: a short execution (most `?wait=true` calls) is seen
/// ending within a millisecond or two, not a whole poll later, and a long one costs no more
/// reads than a fixed poll (about 35 reads in the first 160 ms, then one per `wait_poll`).
pub(crate) async fn wait_until_ended(state: &ApiState, id: Uuid) -> ApiResult<ExecutionRow> {
    let started = Instant::now();
    let deadline = started + state.options.max_wait;
    loop {
        let row = state.store.get_execution(id).await?;
        let now = Instant::now();
        if row.state.is_terminal() || now >= deadline {
            return Ok(row);
        }
        let pause = ((now - started) / 8).clamp(Duration::from_millis(1), state.options.wait_poll);
        tokio::time::sleep(pause.min(deadline - now)).await;
    }
}

/// The SSE stream, Kestra's shape: each event's `data` is the execution document; its `id` is
/// `progress`, and `end` on the last one (the execution has ended), after which the stream
/// closes. The first event comes at once. A store failure ends the stream with an `error` event.
pub(crate) async fn follow(state: ApiState, id: Uuid) -> ApiResult<Response> {
    // Answer 404 now, not as an event in a 200 stream.
    let first = state.store.get_execution(id).await?;
    let events = changes(state, first).map(|change| {
        Ok::<_, Infallible>(match change {
            Ok(row) => {
                let id = if row.state.is_terminal() {
                    "end"
                } else {
                    "progress"
                };
                Event::default().id(id).data(row.document.to_string())
            }
            Err(error) => Event::default()
                .event("error")
                .data(json!({"message": error.to_string()}).to_string()),
        })
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The execution as `first` has it, then each later version of it (the store bumps the row's
/// `version` on every write), read every [`crate::ApiOptions::execution_follow_poll`]; the
/// stream ends after the first version in a terminal state, or after a store error.
/// Polling happens only while the caller reads, and stops when it drops the stream.
pub(crate) fn changes(
    state: ApiState,
    first: ExecutionRow,
) -> impl Stream<Item = Result<ExecutionRow, baton_store::Error>> + Send + 'static {
    let watcher = Watcher {
        poll: state.options.execution_follow_poll,
        id: first.id,
        state,
        next: Some(first),
        version: None,
        ended: false,
    };
    futures_util::stream::unfold(watcher, |mut watcher| async move {
        let change = watcher.next_change().await?;
        Some((change, watcher))
    })
}

struct Watcher {
    state: ApiState,
    id: Uuid,
    poll: Duration,
    /// A row already read and not yet looked at (the first one, read to answer 404).
    next: Option<ExecutionRow>,
    /// The version of the last row handed out.
    version: Option<i64>,
    /// The last row (terminal) or an error was handed out; the stream ends.
    ended: bool,
}

impl Watcher {
    async fn next_change(&mut self) -> Option<Result<ExecutionRow, baton_store::Error>> {
        if self.ended {
            return None;
        }
        loop {
            let row = match self.next.take() {
                Some(row) => row,
                None => match self.state.store.get_execution(self.id).await {
                    Ok(row) => row,
                    Err(error) => {
                        tracing::warn!(execution_id = %self.id, ?error, "execution watcher stopped");
                        self.ended = true;
                        return Some(Err(error));
                    }
                },
            };
            if self.version != Some(row.version) {
                self.version = Some(row.version);
                self.ended = row.state.is_terminal();
                return Some(Ok(row));
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}
