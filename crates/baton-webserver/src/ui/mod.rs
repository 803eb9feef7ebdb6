//! The web UI: server-rendered pages under `/ui` (askama templates, compile-checked, in
//! `templates/ui/`), with a little plain JavaScript for the live parts (`assets/app.js`: log
//! and execution streams over the API's SSE endpoints, the editor's gutter, auto-refresh).
//! Assets are embedded in the binary; nothing is built with npm.
//!
//! The pages read the store and the flow parser directly and act through the same functions
//! as the REST API (deploy, `create_execution`), so the UI adds no second way to change an
//! execution: its Kill, Restart and Replay buttons call the REST API from the browser.
//!
//! With basic auth configured, a browser without a session is sent to `/ui/login`, whose form
//! sets the session cookie (`session.rs`); Basic credentials are accepted on pages too, for
//! scripts and curl.

mod assets;
mod diff;
mod execute;
mod execution;
mod executions;
mod flows;
mod gantt;
mod highlight;
mod kv;
mod login;
mod namespace_files;
mod outputs;
pub(crate) mod session;
mod topology;
mod triggers;
mod view;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::{ApiError, ApiState, BasicAuth};

pub use view::query_escape;

/// Every page of the UI, and `/` sending browsers to it.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/flows") }))
        .route("/ui", get(|| async { Redirect::to("/ui/flows") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/flows") }))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/ui/flows", get(flows::list))
        .route("/ui/flows/new", get(flows::new_form).post(flows::create))
        .route("/ui/flows/{namespace}/{id}", get(flows::page))
        .route(
            "/ui/flows/{namespace}/{id}/edit",
            get(flows::edit_form).post(flows::save),
        )
        .route(
            "/ui/flows/{namespace}/{id}/revisions",
            get(flows::revisions),
        )
        .route("/ui/flows/{namespace}/{id}/toggle", post(flows::toggle))
        .route(
            "/ui/flows/{namespace}/{id}/execute",
            get(execute::form).post(execute::submit),
        )
        .route(
            "/ui/flows/{namespace}/{id}/triggers",
            get(triggers::flow_triggers),
        )
        .route(
            "/ui/flows/{namespace}/{id}/triggers/{trigger}/toggle",
            post(triggers::toggle),
        )
        .route(
            "/ui/flows/{namespace}/{id}/triggers/{trigger}/backfill",
            post(triggers::start_backfill),
        )
        .route(
            "/ui/flows/{namespace}/{id}/triggers/{trigger}/backfill/{action}",
            post(triggers::change_backfill),
        )
        .route("/ui/triggers", get(triggers::list))
        .route("/ui/executions", get(executions::list))
        .route("/ui/executions/{id}", get(execution::page))
        .route("/ui/executions/{id}/live", get(execution::live))
        .route("/ui/namespaces", get(kv::namespaces))
        .route("/ui/namespaces/{namespace}", get(kv::page).post(kv::set))
        .route(
            "/ui/namespaces/{namespace}/kv/{key}/delete",
            post(kv::delete),
        )
        .route(
            "/ui/namespaces/{namespace}/files",
            get(namespace_files::page).post(namespace_files::save),
        )
        .route(
            "/ui/namespaces/{namespace}/files/upload",
            post(namespace_files::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/ui/namespaces/{namespace}/files/delete",
            post(namespace_files::delete),
        )
}

/// Whether `path` is one of the UI's (the auth layer treats those differently from the API's).
pub(crate) fn is_ui_path(path: &str) -> bool {
    path == "/" || path == "/ui" || path.starts_with("/ui/")
}

/// The UI's side of basic auth: the login page and the assets are open; other pages need a
/// session or Basic credentials, and a browser without them is sent to the login page, which
/// brings it back afterwards.
pub(crate) async fn require_login(
    credentials: &Arc<BasicAuth>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    // `/` only redirects; the page it leads to asks for the login.
    let open = path == "/" || path == "/ui/login" || path.starts_with("/ui/assets/");
    if open || credentials.admits(request.headers()) {
        return next.run(request).await;
    }
    let back = request
        .uri()
        .path_and_query()
        .map_or("/ui/flows", |p| p.as_str());
    Redirect::to(&format!("/ui/login?next={}", query_escape(back))).into_response()
}

/// A page that could not be shown: the API's error, rendered as HTML with its status.
pub(crate) struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl From<askama::Error> for ApiError {
    fn from(error: askama::Error) -> Self {
        tracing::error!(%error, "rendering a page failed");
        ApiError::Internal(format!("rendering the page failed: {error}"))
    }
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage {
    nav: view::Nav,
    title: String,
    status: u16,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let message = match self.0 {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::Unprocessable(m)
            | ApiError::Internal(m) => m,
            ApiError::InvalidFlow { message, .. } => message,
        };
        let page = ErrorPage {
            nav: view::Nav::new(""),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(error) => (status, error.to_string()).into_response(),
        }
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

/// Renders a page with 200.
pub(crate) fn html(page: &impl Template) -> PageResult {
    html_with(StatusCode::OK, page)
}

/// Renders a page with `status` (a form shown again with its errors is a 422).
pub(crate) fn html_with(status: StatusCode, page: &impl Template) -> PageResult {
    let body = page.render().map_err(ApiError::from)?;
    Ok((status, Html(body)).into_response())
}
