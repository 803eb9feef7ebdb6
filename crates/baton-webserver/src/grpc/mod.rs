//! The public gRPC API (`proto/baton/v1/api.proto`): `FlowService` and `ExecutionService`,
//! served on the API's port next to the REST routes.
//!
//! Each call goes through the same functions as its REST twin (`crate::flows`,
//! `crate::executions`, `crate::follow`, `crate::logs`), so both APIs validate, refuse and
//! answer alike; this module only converts messages and maps [`ApiError`] to a gRPC status.
//! Basic auth, when set, is checked by an interceptor on the `authorization` metadata, the
//! header REST reads.

mod convert;
mod executions;
mod flows;

use std::sync::Arc;

use axum::Router;
use baton_core::diagnostic::Diagnostic;
use baton_proto::v1::execution_service_server::ExecutionServiceServer;
use baton_proto::v1::flow_service_server::FlowServiceServer;
use tonic::server::NamedService;
use tonic::service::Interceptor;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::auth::BasicAuth;
use crate::{ApiError, ApiState};

pub use executions::ExecutionApi;
pub use flows::FlowApi;

/// The gRPC names of the public services (for health reporting).
pub const SERVICES: [&str; 2] = [
    <FlowServiceServer<FlowApi> as NamedService>::NAME,
    <ExecutionServiceServer<ExecutionApi> as NamedService>::NAME,
];

/// Routes `FlowService` and `ExecutionService` on `router`, behind basic auth when the API has
/// it. The caller serves gRPC health and reflection (once per port).
pub fn route_public_api(router: Router, state: ApiState) -> Router {
    let auth = Authenticate(state.options.basic_auth.clone().map(Arc::new));
    let flows = FlowServiceServer::with_interceptor(FlowApi::new(state.clone()), auth.clone());
    let executions = ExecutionServiceServer::with_interceptor(ExecutionApi::new(state), auth);
    crate::route_grpc(crate::route_grpc(router, flows), executions)
}

/// Checks `authorization: Basic …` metadata against the configured user; lets every call
/// through when there is none.
#[derive(Clone)]
struct Authenticate(Option<Arc<BasicAuth>>);

impl Interceptor for Authenticate {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let Some(credentials) = &self.0 else {
            return Ok(request);
        };
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        if credentials.accepts_header(header) {
            return Ok(request);
        }
        let message = if header.is_some() {
            "invalid credentials"
        } else {
            "authentication required: send `authorization: Basic base64(user:password)` metadata"
        };
        Err(Status::unauthenticated(message))
    }
}

/// The gRPC status of an API error. An invalid flow lists every error diagnostic in the
/// message as `file:line:column: message` (`source_name` is the file; `<source>` when the
/// caller gave none), and again as `google.rpc.BadRequest` field violations in the details.
pub(crate) fn status(error: ApiError, source_name: Option<&str>) -> Status {
    match error {
        ApiError::InvalidFlow { diagnostics, .. } => {
            invalid_flow(&diagnostics, source_name.unwrap_or("<source>"))
        }
        ApiError::BadRequest(message) | ApiError::Unprocessable(message) => {
            Status::invalid_argument(message)
        }
        ApiError::Unauthorized(message) => Status::unauthenticated(message),
        ApiError::NotFound(message) => Status::not_found(message),
        ApiError::Conflict(message) => Status::failed_precondition(message),
        ApiError::Internal(message) => Status::internal(message),
    }
}

fn invalid_flow(diagnostics: &[Diagnostic], file: &str) -> Status {
    let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
    let plural = if errors.len() == 1 { "" } else { "s" };
    let mut message = format!("invalid flow ({} error{plural})", errors.len());
    let mut details = ErrorDetails::new();
    for diagnostic in errors {
        message.push('\n');
        message.push_str(&diagnostic.display_in(file).to_string());
        details.add_bad_request_violation(
            format!("{file}:{}", diagnostic.position),
            diagnostic.message.clone(),
        );
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// `Status` from an [`ApiError`] with no flow source involved.
impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        status(error, None)
    }
}
