//! The API's one error type, mapped once to an HTTP status and a JSON body:
//! `{"message": "...", "details": [...]}`.

use axum::Json;
use axum::http::StatusCode;
use axum::http::header::WWW_AUTHENTICATE;
use axum::response::{IntoResponse, Response};
use baton_core::diagnostic::Diagnostic;
use serde_json::{Value, json};

/// Everything a handler can answer with besides success.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request itself is malformed (a bad query parameter, a path/body mismatch).
    BadRequest(String),
    /// 401: credentials are required and were missing or wrong; the response asks for Basic.
    Unauthorized(String),
    /// 404: the message names what is missing.
    NotFound(String),
    /// 409: the thing exists but is in the wrong state (already ended, not paused, exists).
    Conflict(String),
    /// 422: a flow source with errors; every diagnostic goes in `details`.
    InvalidFlow {
        message: String,
        diagnostics: Vec<Diagnostic>,
    },
    /// 422: a well-formed request the API cannot act on: refused inputs (the message names the
    /// input), a file request on a server without internal storage, a stored flow that no
    /// longer parses.
    Unprocessable(String),
    /// 500: the store or the executor failed; the message is safe to show, the cause is logged.
    Internal(String),
}

/// A diagnostic as the API shows it: `{line, column, message, severity}`.
pub fn diagnostic_json(diagnostic: &Diagnostic) -> Value {
    json!({
        "line": diagnostic.position.line,
        "column": diagnostic.position.column,
        "message": diagnostic.message,
        "severity": diagnostic.severity,
    })
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::InvalidFlow { .. } | Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error of a flow that did not parse, with all its diagnostics.
    pub fn invalid_flow(diagnostics: Vec<Diagnostic>) -> Self {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let first = diagnostics
            .iter()
            .find(|d| d.is_error())
            .map(|d| format!(": {}: {}", d.position, d.message))
            .unwrap_or_default();
        Self::InvalidFlow {
            message: format!(
                "invalid flow ({errors} error{}){first}",
                if errors == 1 { "" } else { "s" }
            ),
            diagnostics,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, details) = match self {
            Self::InvalidFlow {
                message,
                diagnostics,
            } => (message, diagnostics.iter().map(diagnostic_json).collect()),
            Self::BadRequest(message)
            | Self::Unauthorized(message)
            | Self::NotFound(message)
            | Self::Conflict(message)
            | Self::Unprocessable(message)
            | Self::Internal(message) => (message, Vec::new()),
        };
        let body = Json(json!({"message": message, "details": details}));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = [(WWW_AUTHENTICATE, r#"Basic realm="baton""#)];
            return (status, challenge, body).into_response();
        }
        (status, body).into_response()
    }
}

impl From<baton_store::Error> for ApiError {
    fn from(error: baton_store::Error) -> Self {
        use baton_store::Error;
        match error {
            Error::FlowNotFound { .. }
            | Error::ExecutionNotFound(_)
            | Error::TriggerNotFound(_)
            | Error::BackfillNotFound(_) => Self::NotFound(error.to_string()),
            Error::Conflict { .. } | Error::BackfillActive(_) | Error::BackfillState { .. } => {
                Self::Conflict(error.to_string())
            }
            other => {
                tracing::error!(error = ?other, "store call failed");
                Self::Internal(other.to_string())
            }
        }
    }
}

impl From<baton_executor::executor::Error> for ApiError {
    fn from(error: baton_executor::executor::Error) -> Self {
        use baton_executor::executor::Error;
        match error {
            Error::Store(store) => store.into(),
            Error::Inputs(message) => Self::Unprocessable(message),
            Error::NotApplicable(message) => Self::Conflict(message),
            Error::WebhookNotFound => Self::NotFound(error.to_string()),
            // A stored revision that this version of Baton no longer reads: the user fixes it
            // by deploying the flow again, so it is their flow's problem, not a server fault.
            Error::InvalidFlow { .. } => Self::Unprocessable(error.to_string()),
            other => {
                tracing::error!(error = ?other, "executor call failed");
                Self::Internal(other.to_string())
            }
        }
    }
}

impl From<baton_scheduler::Error> for ApiError {
    fn from(error: baton_scheduler::Error) -> Self {
        use baton_scheduler::Error;
        match error {
            Error::Store(store) => store.into(),
            Error::Executor(executor) => executor.into(),
            Error::Invalid(message) => Self::Unprocessable(message),
            other => {
                tracing::error!(error = ?other, "scheduler call failed");
                Self::Internal(other.to_string())
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
