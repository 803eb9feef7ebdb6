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
use futures_util::Stream;
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
    let follower = Follower {
        poll: state.options.execution_follow_poll,
        state,
        id,
        next: Some(first),
        version: None,
        ended: false,
    };
    Ok(Sse::new(follower.into_stream())
        .keep_alive(KeepAlive::default())
        .into_response())
}

struct Follower {
    state: ApiState,
    id: Uuid,
    poll: Duration,
    /// A row already read and not yet looked at (the first one, read to answer 404).
    next: Option<ExecutionRow>,
    /// The version of the last document sent.
    version: Option<i64>,
    /// The `end` (or `error`) event was sent; the stream closes.
    ended: bool,
}

impl Follower {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
        // Polling happens only while the client reads and stops when it hangs up.
        futures_util::stream::unfold(self, |mut follower| async move {
            let event = follower.next_event().await?;
            Some((Ok(event), follower))
        })
    }

    async fn next_event(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        loop {
            let row = match self.next.take() {
                Some(row) => row,
                None => match self.state.store.get_execution(self.id).await {
                    Ok(row) => row,
                    Err(error) => {
                        tracing::warn!(execution_id = %self.id, ?error, "execution follower stopped");
                        self.ended = true;
                        return Some(
                            Event::default()
                                .event("error")
                                .data(json!({"message": error.to_string()}).to_string()),
                        );
                    }
                },
            };
            if self.version != Some(row.version) {
                self.version = Some(row.version);
                self.ended = row.state.is_terminal();
                let id = if self.ended { "end" } else { "progress" };
                return Some(Event::default().id(id).data(row.document.to_string()));
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}
