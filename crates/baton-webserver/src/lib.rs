//! Baton's REST API: what the web UI, curl and the CLI talk to, and its gRPC twin
//! (`baton.v1.FlowService` and `ExecutionService`, see [`grpc`]) on the same port.
//!
//! Paths and shapes follow Kestra 1.x's `/api/v1/...` where practical, both without and with
//! the OSS tenant segment (`/api/v1/main/...`: the same routes nested twice), so Kestra habits
//! (`curl -F fileUpload=@flow.yaml .../flows/import`, multipart execution inputs) keep working.
//! Bodies are camelCase JSON; every error is `{"message": ..., "details": [...]}` with its
//! status (see [`ApiError`]). With [`ApiOptions::basic_auth`] set, every route but the health
//! check and webhooks asks for HTTP Basic credentials (see `auth.rs`).
//!
//! The web UI (`ui/`) is served from the same router at `/ui`: server-rendered pages over the
//! same store and executor calls, with a login page when basic auth is on.
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

mod auth;
mod error;
mod executions;
mod files;
mod flows;
mod follow;
pub mod grpc;
mod logs;
mod namespace_files;
mod query;
pub mod sys;
mod triggers;
mod ui;
mod webhooks;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router, middleware};
use baton_core::parse::FlowParser;
use baton_executor::executor::ExecutorState;
use baton_store::{FlowFilter, Store};
use serde_json::json;
use tokio::net::TcpListener;

pub use auth::BasicAuth;
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
    /// Internal storage: FILE inputs are stored there, execution files downloaded from it.
    /// Without it, those requests are answered 422.
    pub storage: Option<baton_storage::Storage>,
}

/// Tunables of the API.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// How often a log follower (SSE) polls the store for new lines and the execution's state.
    pub follow_poll: Duration,
    /// How often `GET /executions/{id}/follow` reads the execution to see whether it changed.
    pub execution_follow_poll: Duration,
    /// How often, at most, `POST /executions/{ns}/{id}?wait=true` reads the execution to see
    /// whether it has ended (the executor publishes no change notification to wait on). The
    /// first reads come sooner: the pause is an eighth of the time waited, from 1 ms up to this.
    pub wait_poll: Duration,
    /// The longest `?wait=true` waits; after it the answer is 200 with the execution as it is
    /// then, not terminal, and the client reads its `state`.
    pub max_wait: Duration,
    /// When set, every `/api/v1/**` route except `GET /api/v1/health` and webhooks
    /// (`/api/v1/executions/webhook/{namespace}/{flowId}/{key}`) needs these credentials.
    pub basic_auth: Option<BasicAuth>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            follow_poll: Duration::from_millis(100),
            execution_follow_poll: Duration::from_millis(50),
            wait_poll: Duration::from_millis(20),
            max_wait: Duration::from_secs(60 * 60),
            basic_auth: None,
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
            storage: None,
        }
    }

    pub fn with_storage(mut self, storage: baton_storage::Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    pub fn with_options(mut self, options: ApiOptions) -> Self {
        self.options = options;
        self
    }
}

/// Every route of the API, under `/api/v1` and under the tenant path `/api/v1/main`, and the
/// web UI under `/ui` (`/` redirects there). The caller
/// may merge other routes (the worker hub's gRPC service) onto the same router and port: the
/// basic-auth layer wraps only these routes and the fallback, so merged routes keep their own
/// authentication.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .merge(flows::routes())
        .merge(executions::routes())
        .merge(files::routes())
        .merge(logs::routes())
        .merge(namespace_files::routes())
        .merge(triggers::routes())
        .merge(sys::routes())
        .merge(webhooks::routes());
    let basic_auth = state.options.basic_auth.clone();
    let router = Router::new()
        .nest("/api/v1/main", api.clone())
        .nest("/api/v1", api)
        .merge(ui::routes())
        .fallback(no_route)
        .with_state(state);
    match basic_auth {
        Some(credentials) => router.layer(middleware::from_fn_with_state(
            Arc::new(credentials),
            auth::require_basic_auth,
        )),
        None => router,
    }
}

/// How long [`serve`] lets open requests finish once shutdown is asked.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and lets open
/// requests finish. Accepted sockets get TCP_NODELAY: small HTTP and gRPC frames would otherwise
/// wait for the peer's delayed ACK (~40 ms). A log follower stays open as long as its execution runs (a paused one for
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
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on an accepted socket");
        }
    });
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

/// Routes a gRPC service on an axum router by its path prefix (`/package.Service/…`). The API
/// router keeps its own JSON 404 fallback, so services are routed rather than merged as a
/// second router (axum refuses two fallbacks) — the same thing tonic's `Routes` does inside.
/// Routes added this way are outside the REST basic-auth layer: each service authenticates
/// its own calls.
pub fn route_grpc<S, B>(router: Router, service: S) -> Router
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<B>,
            Error = Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    // Services behind a tonic interceptor answer with the interceptor's own body type.
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    use tower::ServiceExt as _;
    let service = service.map_request(|request: http::Request<axum::body::Body>| {
        request.map(tonic::body::Body::new)
    });
    router.route_service(&format!("/{}/{{*rest}}", S::NAME), service)
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}
