//! `/api/v1/executions`: create (inputs as multipart form fields or a JSON object, FILE inputs
//! as multipart files; `?wait=true` answers once it has ended), read, follow (SSE), search,
//! kill, resume, restart, replay. Files of an execution are in `files.rs`.
//!
//! Kill and resume are events put on the executor's queue, keyed by the execution: the executor
//! applies them in its next step, so the API never writes an execution document.

use std::str::FromStr;

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use baton_core::engine::Event;
use baton_core::execution::{Execution, State as ExecutionState};
use baton_core::inputs::RawInput;
use baton_executor::executor::{NewExecution, StepMessage, create_execution_with_id};
use baton_storage::ExecutionFiles;
use baton_store::{Execution as ExecutionRow, ExecutionCursor, ExecutionFilter};
use chrono::{DateTime, NaiveDate, Utc};
use indexmap::IndexMap;
use serde_json::json;
use uuid::Uuid;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::query::Params;

const DEFAULT_PAGE: u32 = 25;
const MAX_PAGE: u32 = 500;
/// The largest JSON body of inputs. Multipart bodies are not bounded: their files are streamed
/// to internal storage, never held.
const MAX_JSON_INPUTS_BYTES: usize = 2 * 1024 * 1024;

pub fn routes() -> Router<ApiState> {
    // `POST /{namespace}/{id}` (create) and `POST /{executionId}/kill|resume` share one path
    // shape; `second_segment` tells them apart by the first segment being an execution id.
    Router::new()
        .route("/executions/search", get(search))
        .route("/executions/{first}", get(read))
        .route(
            "/executions/{first}/{second}",
            get(read_second_segment)
                .post(second_segment)
                .delete(kill_by_delete)
                // Uploads (FILE inputs) stream to storage; JSON bodies keep their own bound.
                .layer(DefaultBodyLimit::disable()),
        )
}

/// An execution id from the path; a malformed one is simply not found.
pub(crate) fn execution_id(text: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| ApiError::NotFound(format!("execution {text} not found")))
}

async fn second_segment(
    State(state): State<ApiState>,
    Path((first, second)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    request: Request,
) -> ApiResult<Response> {
    if let Ok(id) = Uuid::parse_str(&first) {
        match second.as_str() {
            "kill" => return kill(&state, id).await,
            "resume" => return resume(&state, id).await,
            "restart" => return restart(&state, id).await,
            "replay" => return replay(&state, id, &Params(query)).await,
            _ => {}
        }
    }
    create(state, first, second, Params(query), request).await
}

/// `GET /api/v1/executions/{executionId}/follow` and `…/{executionId}/file?path=`.
async fn read_second_segment(
    State(state): State<ApiState>,
    Path((first, second)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    match second.as_str() {
        "follow" => crate::follow::follow(state, execution_id(&first)?).await,
        "file" => crate::files::download(&state, &first, &Params(query)).await,
        _ => Err(ApiError::NotFound(format!(
            "no route for GET /api/v1/executions/{first}/{second}"
        ))),
    }
}

/// `POST /api/v1/executions/{namespace}/{id}?labels=k:v&revision=N&wait=true`. With `wait`, the
/// answer comes once the execution has ended (or after [`crate::ApiOptions::max_wait`], with the
/// execution as it is then).
async fn create(
    state: ApiState,
    namespace: String,
    flow_id: String,
    params: Params,
    request: Request,
) -> ApiResult<Response> {
    let labels = params.labels()?;
    let revision = params.parse::<i32>("revision")?;
    let wait = params.parse::<bool>("wait")?.unwrap_or(false);
    // The id comes first: uploaded files are stored under it before the execution exists.
    let id = Uuid::now_v7();
    let mut uploads = None;
    let created = match read_inputs(&state, request, (&namespace, &flow_id, id), &mut uploads).await
    {
        Ok(inputs) => {
            let request = NewExecution {
                namespace: namespace.clone(),
                flow_id: flow_id.clone(),
                revision,
                inputs,
                labels,
                trigger: None,
            };
            create_execution(&state, id, request).await
        }
        Err(error) => Err(error),
    };
    let execution = match created {
        Ok(execution) => execution,
        Err(error) => {
            crate::files::discard_uploads(&state, id, uploads).await;
            return Err(error);
        }
    };
    if wait {
        let row = crate::follow::wait_until_ended(&state, id).await?;
        return Ok(Json(row.document).into_response());
    }
    Ok(Json(execution).into_response())
}

/// Creates execution `id` through the executor (inputs coerced first). A disabled flow is 409,
/// a state problem as Kestra answers it; refused inputs are 422 naming the input.
pub(crate) async fn create_execution(
    state: &ApiState,
    id: Uuid,
    request: NewExecution,
) -> ApiResult<Execution> {
    let (namespace, flow_id, revision) = (
        request.namespace.clone(),
        request.flow_id.clone(),
        request.revision,
    );
    match create_execution_with_id(&state.executor, id, request).await {
        Ok(execution) => Ok(execution),
        Err(baton_executor::executor::Error::Inputs(message)) => {
            // The executor refuses a disabled flow the same way as a bad input.
            let disabled = state
                .store
                .get_flow(&namespace, &flow_id, revision)
                .await
                .is_ok_and(|record| record.disabled);
            Err(if disabled {
                ApiError::Conflict(message)
            } else {
                ApiError::Unprocessable(message)
            })
        }
        Err(error) => Err(error.into()),
    }
}

/// Inputs from a multipart form (Kestra's way: one field per input, files for FILE inputs) or
/// a JSON object. An empty body means no inputs. Uploaded files are streamed to internal
/// storage under execution `id`; `uploads` is set as soon as one may have been stored, so the
/// caller can remove them when the execution is not created.
async fn read_inputs(
    state: &ApiState,
    request: Request,
    (namespace, flow_id, id): (&str, &str, Uuid),
    uploads: &mut Option<ExecutionFiles>,
) -> ApiResult<IndexMap<String, RawInput>> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut inputs = IndexMap::new();
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
        let bad = |error: axum::extract::multipart::MultipartError| {
            ApiError::BadRequest(format!("reading the multipart body: {error}"))
        };
        while let Some(field) = form.next_field().await.map_err(bad)? {
            let Some(name) = field.name().map(str::to_owned) else {
                continue;
            };
            let Some(file_name) = field.file_name().map(str::to_owned) else {
                let value = field.text().await.map_err(bad)?;
                inputs.insert(name, RawInput::Text(value));
                continue;
            };
            // Kestra's older clients send every file as a part named `files` whose file name
            // is the input; newer ones name the part after the input.
            let (input, file_name) = if name == "files" {
                (file_name.clone(), file_name)
            } else {
                (name, file_name)
            };
            let files = match uploads {
                Some(files) => files,
                None => uploads.insert(
                    ExecutionFiles::new(namespace, flow_id, &id.to_string())
                        .map_err(|e| ApiError::BadRequest(e.to_string()))?,
                ),
            };
            let uri =
                crate::files::store_input_file(state, files, &input, &file_name, field).await?;
            inputs.insert(input, RawInput::File { uri });
        }
        return Ok(inputs);
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_JSON_INPUTS_BYTES)
        .await
        .map_err(|error| ApiError::BadRequest(format!("reading the body: {error}")))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(inputs);
    }
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&body)
        .map_err(|error| {
            ApiError::BadRequest(format!(
                "inputs must be multipart/form-data fields or a JSON object: {error}"
            ))
        })?;
    inputs.extend(object.into_iter().map(|(k, v)| (k, RawInput::Json(v))));
    Ok(inputs)
}

/// `GET /api/v1/executions/{executionId}`: the execution document.
async fn read(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let row = state.store.get_execution(execution_id(&id)?).await?;
    Ok(Json(row.document))
}

/// `GET /api/v1/executions/search?namespace=&flowId=&state=&startDate=&endDate=&labels=k:v
/// &size=&after=`: newest first; pass `next` back as `after` for the following page.
async fn search(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let params = Params(query);
    let filter = ExecutionFilter {
        namespace: params.get("namespace").map(str::to_owned),
        flow_id: params.get("flowId").map(str::to_owned),
        states: states(&params)?,
        created_from: date(&params, "startDate")?,
        created_to: date(&params, "endDate")?,
        labels: params.labels()?.into_iter().collect(),
    };
    let (rows, next) = search_executions(
        &state,
        &filter,
        params.parse::<u32>("size")?,
        params.get("after"),
    )
    .await?;
    let results: Vec<_> = rows.into_iter().map(|row| row.document).collect();
    Ok(Json(json!({"results": results, "next": next})))
}

/// One page of executions matching `filter`, newest first, and the cursor of the next page
/// when there may be one. `after` is the `next` of the previous page.
pub(crate) async fn search_executions(
    state: &ApiState,
    filter: &ExecutionFilter,
    size: Option<u32>,
    after: Option<&str>,
) -> ApiResult<(Vec<ExecutionRow>, Option<String>)> {
    let size = size.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let after = after.map(parse_cursor).transpose()?;
    let page = state.store.list_executions(filter, after, size).await?;
    let next = page.next.map(format_cursor);
    Ok((page.items, next))
}

/// The opaque `next` of a search page (read back by [`parse_cursor`]).
pub(crate) fn format_cursor(cursor: ExecutionCursor) -> String {
    format!(
        "{}_{}",
        cursor.created_at.timestamp_nanos_opt().unwrap_or_default(),
        cursor.id
    )
}

/// Every `state=` parameter (any case).
pub(crate) fn states(params: &Params) -> ApiResult<Vec<ExecutionState>> {
    params
        .all("state")
        .map(|text| {
            ExecutionState::parse(&text.to_ascii_uppercase()).ok_or_else(|| {
                ApiError::BadRequest(format!("query parameter state={text:?}: unknown state"))
            })
        })
        .collect()
}

/// A date parameter: RFC 3339 (`2025-01-31T10:00:00Z`) or a day (`2025-01-31`, midnight UTC).
pub(crate) fn date(params: &Params, key: &str) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(text) = params.get(key) else {
        return Ok(None);
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    NaiveDate::from_str(text)
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| Some(at.and_utc()))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "query parameter {key}={text:?}: expected an RFC 3339 date-time or YYYY-MM-DD"
            ))
        })
}

/// The opaque `next` of a search page: `<created_at in ns since the epoch>_<id>`.
pub(crate) fn parse_cursor(text: &str) -> ApiResult<ExecutionCursor> {
    text.split_once('_')
        .and_then(|(nanos, id)| {
            Some(ExecutionCursor {
                created_at: DateTime::from_timestamp_nanos(nanos.parse().ok()?),
                id: Uuid::parse_str(id).ok()?,
            })
        })
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "page cursor {text:?}: expected the `next` of a previous page"
            ))
        })
}

/// `DELETE /api/v1/executions/{executionId}/kill` (Kestra's verb; `POST` works too).
async fn kill_by_delete(
    State(state): State<ApiState>,
    Path((first, second)): Path<(String, String)>,
) -> ApiResult<Response> {
    if second != "kill" {
        return Err(ApiError::NotFound(format!(
            "no route for DELETE /api/v1/executions/{first}/{second}"
        )));
    }
    kill(&state, execution_id(&first)?).await
}

/// Runs a failed, killed or cancelled execution again under the same id, from what failed:
/// 202 with the execution as it is now, 409 for any other state.
async fn restart(state: &ApiState, id: Uuid) -> ApiResult<Response> {
    let row = restart_execution(state, id).await?;
    Ok((StatusCode::ACCEPTED, Json(row.document)).into_response())
}

/// Asks the executor to restart the execution; answers it as it is now.
pub(crate) async fn restart_execution(state: &ApiState, id: Uuid) -> ApiResult<ExecutionRow> {
    baton_executor::executor::restart(&state.executor, &id.to_string()).await?;
    Ok(state.store.get_execution(id).await?)
}

/// `POST /api/v1/executions/{id}/replay?taskRunId=…`: a new execution that reuses the results
/// of the task runs before the chosen one and runs from it.
async fn replay(state: &ApiState, id: Uuid, params: &Params) -> ApiResult<Response> {
    let Some(task_run_id) = params.get("taskRunId") else {
        return Err(ApiError::BadRequest(
            "replay needs ?taskRunId= naming the task run to replay from".into(),
        ));
    };
    let execution =
        baton_executor::executor::replay_execution(&state.executor, &id.to_string(), task_run_id)
            .await?;
    Ok((StatusCode::OK, Json(execution)).into_response())
}

/// Asks the executor to kill the execution: 202 with the execution as it is now, 409 when it
/// has already ended or is being killed.
async fn kill(state: &ApiState, id: Uuid) -> ApiResult<Response> {
    let row = kill_execution(state, id).await?;
    Ok((StatusCode::ACCEPTED, Json(row.document)).into_response())
}

/// Puts a kill on the executor's queue unless the execution has ended or is being killed;
/// answers the execution as it was when asked.
pub(crate) async fn kill_execution(state: &ApiState, id: Uuid) -> ApiResult<ExecutionRow> {
    let row = state.store.get_execution(id).await?;
    if row.state.is_terminal() || row.state == ExecutionState::Killing {
        return Err(ApiError::Conflict(format!(
            "execution {id} cannot be killed: it is already {}",
            row.state
        )));
    }
    state
        .store
        .enqueue(&[StepMessage::message(&id.to_string(), vec![Event::Kill])])
        .await?;
    Ok(row)
}

/// Resumes a paused execution: 202 with the execution as it is now, 409 when it is not paused.
async fn resume(state: &ApiState, id: Uuid) -> ApiResult<Response> {
    let row = resume_execution(state, id).await?;
    Ok((StatusCode::ACCEPTED, Json(row.document)).into_response())
}

/// Puts a resume on the executor's queue when the execution is paused; answers it as it was.
pub(crate) async fn resume_execution(state: &ApiState, id: Uuid) -> ApiResult<ExecutionRow> {
    let row = state.store.get_execution(id).await?;
    if row.state != ExecutionState::Paused {
        return Err(ApiError::Conflict(format!(
            "execution {id} cannot be resumed: it is {}, not PAUSED",
            row.state
        )));
    }
    state
        .store
        .enqueue(&[StepMessage::message(&id.to_string(), vec![Event::Resume])])
        .await?;
    Ok(row)
}
