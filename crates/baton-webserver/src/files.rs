//! Files of an execution in internal storage, as Kestra's API serves them:
//!
//! - FILE inputs arrive as multipart parts of `POST /executions/{namespace}/{flowId}` (the part
//!   named after the input, or Kestra's older `files` part whose file name is the input) and
//!   are streamed to `kestra:///{ns}/{flowId}/executions/{id}/inputs/{input}/{file}`; the
//!   input's value is that URI.
//! - `GET /executions/{executionId}/file?path=kestra:///…` downloads a file of that execution
//!   (`application/octet-stream`, `Content-Disposition: attachment`), streamed.
//! - `GET /executions/{executionId}/file/metas?path=kestra:///…` answers `{"size": N}`.
//!
//! A path outside the execution's folder, or a file that is not there, is 404.

use axum::body::Body;
use axum::extract::multipart::Field;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use baton_storage::{ExecutionFiles, Storage, StorageUri};
use futures_util::TryStreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::query::Params;

pub fn routes() -> Router<ApiState> {
    Router::new().route("/executions/{first}/file/metas", get(metas))
}

impl From<baton_storage::Error> for ApiError {
    fn from(error: baton_storage::Error) -> Self {
        use baton_storage::Error;
        match error {
            Error::NotFound { .. } => Self::NotFound(error.to_string()),
            Error::InvalidUri { .. } | Error::InvalidPath { .. } => {
                Self::BadRequest(error.to_string())
            }
            Error::Upload { .. } => Self::BadRequest(error.to_string()),
            other => {
                tracing::error!(error = ?other, "internal storage call failed");
                Self::Internal(other.to_string())
            }
        }
    }
}

/// The server's storage, or why a file request cannot be served.
pub(crate) fn storage(state: &ApiState) -> ApiResult<&Storage> {
    state.storage.as_ref().ok_or_else(|| {
        ApiError::Unprocessable(
            "this server has no internal storage for files (start it with --storage or \
             BATON_STORAGE)"
                .to_owned(),
        )
    })
}

/// Streams one uploaded multipart part into storage as the file of FILE input `input`;
/// returns its URI.
pub(crate) async fn store_input_file(
    state: &ApiState,
    files: &ExecutionFiles,
    input: &str,
    file_name: &str,
    field: Field<'_>,
) -> ApiResult<String> {
    let storage = storage(state).map_err(|error| match error {
        ApiError::Unprocessable(message) => {
            ApiError::Unprocessable(format!("input '{input}': {message}"))
        }
        other => other,
    })?;
    let uri = files
        .input_file(input, &safe_file_name(file_name, input))
        .map_err(|e| ApiError::Unprocessable(format!("input '{input}': {e}")))?;
    storage.put_stream(&uri, field).await?;
    Ok(uri.to_string())
}

/// The last component of what the client called the file; the input's name when that is
/// empty or a path trick.
fn safe_file_name(name: &str, input: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if last.is_empty() || last == "." || last == ".." || last.chars().any(char::is_control) {
        input.to_owned()
    } else {
        last.to_owned()
    }
}

/// The requested `path`, checked to be a file of execution `id`.
async fn execution_file(state: &ApiState, id: &str, params: &Params) -> ApiResult<StorageUri> {
    let id = crate::executions::execution_id(id)?;
    let path = params.get("path").ok_or_else(|| {
        ApiError::BadRequest("query parameter path= is required (a kestra:/// URI)".to_owned())
    })?;
    let uri = StorageUri::parse(path)?;
    let row = state.store.get_execution(id).await?;
    let files = ExecutionFiles::new(&row.namespace, &row.flow_id, &id.to_string())?;
    if !files.contains(&uri) {
        return Err(ApiError::NotFound(format!(
            "{uri} is not a file of execution {id}"
        )));
    }
    Ok(uri)
}

/// `GET /executions/{executionId}/file?path=kestra:///…`: the file's bytes, streamed.
pub(crate) async fn download(state: &ApiState, id: &str, params: &Params) -> ApiResult<Response> {
    let uri = execution_file(state, id, params).await?;
    let download = storage(state)?.get_stream(&uri).await?;
    let name = uri.file_name().replace(['"', '\\'], "_");
    let body = Body::from_stream(download.chunks.map_err(std::io::Error::other));
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream".to_owned()),
            (CONTENT_LENGTH, download.size.to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /executions/{executionId}/file/metas?path=kestra:///…`: `{"size": N}` in bytes.
async fn metas(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let uri = execution_file(&state, &id, &Params(query)).await?;
    let size = storage(&state)?.size(&uri).await?;
    Ok(Json(json!({ "size": size })).into_response())
}

/// Removes whatever was uploaded for an execution that was then not created.
pub(crate) async fn discard_uploads(state: &ApiState, id: Uuid, files: Option<ExecutionFiles>) {
    let (Some(storage), Some(files)) = (&state.storage, files) else {
        return;
    };
    if let Err(error) = storage.delete_prefix(files.folder()).await {
        tracing::warn!(%error, execution = %id, "cannot remove the uploads of a refused execution");
    }
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn uploaded_file_names_keep_only_their_last_component() {
        assert_eq!(safe_file_name("orders.csv", "file"), "orders.csv");
        assert_eq!(safe_file_name("C:\\data\\orders.csv", "file"), "orders.csv");
        assert_eq!(safe_file_name("../../etc/passwd", "file"), "passwd");
        assert_eq!(safe_file_name("..", "file"), "file");
        assert_eq!(safe_file_name("", "file"), "file");
        assert_eq!(safe_file_name("dir/", "file"), "file");
    }
}
