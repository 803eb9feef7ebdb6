//! HTTP Basic authentication for the API, when [`crate::ApiOptions::basic_auth`] is set.
//!
//! It is a layer on the API's router only, so routes the node merges onto the same port (the
//! worker hub's gRPC service, which checks its own bearer token) are never asked for it.
//! Left open: `GET /api/v1/health` (probes carry no credentials) and webhook paths
//! `/api/v1/executions/webhook/{namespace}/{flowId}/{key}`, whose key is their secret.
//! The API also accepts the web UI's session cookie (see `ui/session.rs`), so the UI's scripts
//! can call it; the UI's own pages send a browser without a session to the login page.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::ApiError;

/// The one user the API accepts.
#[derive(Clone)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Options are logged and dumped; the password never is.
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl BasicAuth {
    /// Whether the request carries this user's Basic credentials or a live UI session.
    pub(crate) fn admits(&self, headers: &HeaderMap) -> bool {
        self.accepts(headers)
            || crate::ui::session::from_headers(headers)
                .is_some_and(|value| crate::ui::session::is_valid(self, value, chrono::Utc::now()))
    }

    /// Whether a login form named this user. Compared in constant time, both parts always.
    pub(crate) fn matches(&self, username: &str, password: &str) -> bool {
        let username_ok = constant_time_eq(username.as_bytes(), self.username.as_bytes());
        let password_ok = constant_time_eq(password.as_bytes(), self.password.as_bytes());
        username_ok & password_ok
    }

    /// Whether `headers` carry `Authorization: Basic base64(username:password)` naming this
    /// user.
    fn accepts(&self, headers: &HeaderMap) -> bool {
        self.accepts_header(headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()))
    }

    /// Whether an `authorization` value (an HTTP header or gRPC metadata) is
    /// `Basic base64(username:password)` naming this user. Both parts are compared in constant
    /// time, and both are always compared.
    pub(crate) fn accepts_header(&self, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return false;
        };
        let Some((scheme, encoded)) = value.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
            return false;
        };
        // RFC 7617: the user id ends at the first colon; the password may hold more.
        let (username, password) = match decoded.iter().position(|&b| b == b':') {
            Some(colon) => (&decoded[..colon], &decoded[colon + 1..]),
            None => return false,
        };
        let username_ok = constant_time_eq(username, self.username.as_bytes());
        let password_ok = constant_time_eq(password, self.password.as_bytes());
        username_ok & password_ok
    }
}

/// Equality whose time depends only on the lengths, not on where the bytes differ.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut difference = given.len() ^ expected.len();
    for index in 0..given.len().max(expected.len()) {
        let a = given.get(index).copied().unwrap_or(0);
        let b = expected.get(index).copied().unwrap_or(0);
        difference |= usize::from(a ^ b);
    }
    std::hint::black_box(difference) == 0
}

/// Whether a request to `path` needs credentials: everything under `/api/` except the health
/// check and webhooks, with or without the tenant segment. Other paths (none today) are not
/// the API's.
fn needs_credentials(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/v1") else {
        return path.starts_with("/api/");
    };
    let rest = match rest.strip_prefix("/main") {
        Some(tail) if tail.is_empty() || tail.starts_with('/') => tail,
        _ => rest,
    };
    if rest == "/health" {
        return false;
    }
    // Exactly `{namespace}/{flowId}/{key}` after `webhook/`: `/executions/webhook/{id}` is the
    // creation of an execution of flow `{id}` in a namespace named `webhook`, and stays closed.
    match rest.strip_prefix("/executions/webhook/") {
        Some(tail) => {
            let segments: Vec<&str> = tail.split('/').collect();
            !(segments.len() == 3 && segments.iter().all(|s| !s.is_empty()))
        }
        None => true,
    }
}

/// The middleware: 401 with `WWW-Authenticate: Basic realm="baton"` unless the request is
/// open or carries the right credentials.
pub(crate) async fn require_basic_auth(
    State(credentials): State<Arc<BasicAuth>>,
    request: Request,
    next: Next,
) -> Response {
    if crate::ui::is_ui_path(request.uri().path()) {
        return crate::ui::require_login(&credentials, request, next).await;
    }
    if !needs_credentials(request.uri().path()) || credentials.admits(request.headers()) {
        return next.run(request).await;
    }
    let message = if request.headers().contains_key(AUTHORIZATION) {
        "invalid credentials"
    } else {
        "authentication required: send HTTP Basic credentials"
    };
    ApiError::Unauthorized(message.into()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_the_right_user_and_password_are_accepted() {
        let auth = BasicAuth {
            username: "admin".into(),
            password: "pa:ss".into(),
        };
        let basic = |text: &str| headers(&format!("Basic {}", STANDARD.encode(text)));
        assert!(auth.accepts(&basic("admin:pa:ss")));
        assert!(auth.accepts(&headers(&format!(
            "basic {}",
            STANDARD.encode("admin:pa:ss")
        ))));
        assert!(!auth.accepts(&basic("admin:pa:s")));
        assert!(!auth.accepts(&basic("admin:pa:sss")));
        assert!(!auth.accepts(&basic("admin:pa")));
        assert!(!auth.accepts(&basic("admi:npa:ss")));
        assert!(!auth.accepts(&basic("adminpa:ss")));
        assert!(!auth.accepts(&headers("Bearer admin:pa:ss")));
        assert!(!auth.accepts(&headers("Basic !!!")));
        assert!(!auth.accepts(&HeaderMap::new()));
    }

    #[test]
    fn health_and_webhooks_are_open_everything_else_under_api_is_not() {
        for open in [
            "/api/v1/health",
            "/api/v1/main/health",
            "/api/v1/executions/webhook/ns/flow/key",
            "/api/v1/main/executions/webhook/ns/flow/key",
            "/worker.v1.Worker/Connect",
            "/",
        ] {
            assert!(!needs_credentials(open), "{open}");
        }
        for closed in [
            "/api/v1",
            "/api/v1/main",
            "/api/v1/health/",
            "/api/v1/mainx/health",
            "/api/v1/flows",
            "/api/v1/main/flows/import",
            "/api/v1/executions/webhook/flow",
            "/api/v1/executions/webhook/ns/flow",
            "/api/v1/executions/webhook/ns//key",
            "/api/v1/executions/webhook/ns/flow/key/more",
            "/api/v2/flows",
        ] {
            assert!(needs_credentials(closed), "{closed}");
        }
    }
}
