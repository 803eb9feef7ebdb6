//! `GET|POST|PUT /api/v1/executions/webhook/{namespace}/{flowId}/{key}`: the Webhook trigger.
//! Open without credentials (the key is the secret); a wrong key, an unknown flow and a
//! disabled one are all the same 404, so callers learn nothing about which flows exist.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use baton_executor::executor::{WebhookOutcome, WebhookRequest, trigger_webhook};

use crate::ApiState;
use crate::error::ApiResult;

pub fn routes() -> Router<ApiState> {
    Router::new().route(
        "/executions/webhook/{namespace}/{flow_id}/{key}",
        get(webhook).post(webhook).put(webhook),
    )
}

/// 200 with the new execution, 204 when the trigger's conditions do not hold for the request.
/// With the trigger's `wait`, the answer comes once the execution has ended (500 when it
/// failed, as Kestra answers), holding its flow outputs when `returnOutputs` is set.
async fn webhook(
    State(state): State<ApiState>,
    Path((namespace, flow_id, key)): Path<(String, String, String)>,
    Query(parameters): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request = WebhookRequest {
        body: body.to_vec(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        parameters,
    };
    match trigger_webhook(&state.executor, &namespace, &flow_id, &key, request).await? {
        WebhookOutcome::Started {
            execution,
            wait: false,
            ..
        } => Ok(Json(execution).into_response()),
        WebhookOutcome::Started {
            execution,
            return_outputs,
            ..
        } => {
            let id = crate::executions::execution_id(&execution.id)?;
            let row = crate::follow::wait_until_ended(&state, id).await?;
            let status = if row.state == baton_store::ExecutionState::Failed {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            let body = if return_outputs {
                row.document.get("outputs").cloned().unwrap_or_default()
            } else {
                row.document
            };
            Ok((status, Json(body)).into_response())
        }
        WebhookOutcome::ConditionsNotMet => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
