//! Baton's REST API: what the web UI, curl and the CLI talk to.
//!
//! Paths and shapes follow Kestra 1.x's `/api/v1/...` where practical (without the tenant
//! segment), so Kestra habits (`curl -F fileUpload=@flow.yaml .../flows/import`, multipart
//! execution inputs) keep working. Bodies are camelCase JSON; every error is
//! `{"message": ..., "details": [...]}` with its status (see [`ApiError`]).
//!
//! The API is a thin adapter: flows are parsed by `baton-core`, stored by `baton-store`;
//! executions are created by `baton-executor`'s `create_execution` and steered (kill, resume) by
//! putting events on the executor's queue. The webserver never changes an execution document
//! itself, so the executor stays the only writer of execution state.
//!
//! ```ignore
//! let router = baton_webserver::router(ApiState::new(store, executor));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! baton_webserver::serve(listener, router, shutdown).await?;
//! ```

mod error;
mod executions;
mod flows;
mod logs;
mod query;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use baton_core::parse::FlowParser;
use baton_executor::executor::ExecutorState;
use baton_store::{FlowFilter, Store};
use serde_json::json;
use tokio::net::TcpListener;

pub use error::{ApiError, ApiResult};

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn Store>,
    /// Creates executions (inputs checked, row and first queue message in one transaction).
    pub executor: Arc<ExecutorState>,
    /// Built once: it holds the template engine used to check template syntax.
    pub parser: Arc<FlowParser>,
    pub options: ApiOptions,
}

/// Tunables of the API.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// How often a log follower (SSE) polls the store for new lines and the execution's state.
    pub follow_poll: Duration,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            follow_poll: Duration::from_millis(100),
        }
    }
}

impl ApiState {
    pub fn new(store: Arc<dyn Store>, executor: Arc<ExecutorState>) -> Self {
        Self {
            store,
            executor,
            parser: Arc::new(FlowParser::default()),
            options: ApiOptions::default(),
        }
    }
}

/// Every route of the API. The caller may merge other routes (the worker hub's gRPC service)
/// onto the same router and port.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .merge(flows::routes())
        .merge(executions::routes())
        .merge(logs::routes())
        .fallback(no_route)
        .with_state(state)
}

/// How long [`serve`] lets open requests finish once shutdown is asked.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and lets open
/// requests finish. A log follower stays open as long as its execution runs (a paused one for
/// days), so after [`SHUTDOWN_GRACE`] this returns anyway and the caller's runtime ends them.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_grace(listener, router, shutdown, SHUTDOWN_GRACE).await
}

/// [`serve`] with an explicit grace period for open requests after shutdown.
pub async fn serve_with_grace(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stopping.send(true);
    });
    let server = std::future::IntoFuture::into_future(server);
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result,
        _ = async {
            let _ = stopped.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(?grace, "requests still open after the shutdown grace period");
            Ok(())
        }
    }
}

/// `{"status": "UP"}` when the store answers a query, 503 `{"status": "DOWN"}` otherwise.
async fn health(State(state): State<ApiState>) -> impl IntoResponse {
    let probe = FlowFilter {
        limit: 1,
        ..FlowFilter::default()
    };
    match state.store.list_flows(&probe).await {
        Ok(_) => (StatusCode::OK, Json(json!({"status": "UP"}))),
        Err(error) => {
            tracing::warn!(?error, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "DOWN", "message": error.to_string()})),
            )
        }
    }
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}
