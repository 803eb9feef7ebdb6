//! Namespace files, as Kestra's `NamespaceFileController` serves them, stored under
//! `kestra:///{namespace as path}/_files/{path}` (see `baton_storage::NamespaceFiles`):
//!
//! - `GET /namespaces/{namespace}/files/directory?path=/` lists a folder:
//!   `[{"fileName", "type": "File"|"Directory", "size", "lastModifiedTime", "creationTime"}]`
//!   (times in epoch milliseconds; the store keeps no creation time, so it repeats the last
//!   modification). The root of a namespace without files lists empty; another missing folder
//!   is 404.
//! - `GET /namespaces/{namespace}/files/stats?path=/x.py` is one such entry.
//! - `GET /namespaces/{namespace}/files?path=/x.py` downloads a file (streamed).
//! - `POST /namespaces/{namespace}/files?path=/x.py` stores the multipart part `fileContent`
//!   there (streamed, replacing any file).
//! - `PUT /namespaces/{namespace}/files?from=/a.py&to=/b.py` moves a file.
//! - `DELETE /namespaces/{namespace}/files?path=/x.py` deletes a file, or a folder with
//!   everything in it; 204.
//!
//! A path with `..`, `.` or an empty segment is 400; a missing file is 404. Not served: empty
//! folders (`POST …/files/directory`: an object store holds none), search, ZIP export.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use baton_storage::{EntryKind, FolderEntry, NamespaceFiles, Storage, StorageUri};
use futures_util::TryStreamExt;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::query::Params;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/namespaces/{namespace}/files/directory", get(directory))
        .route("/namespaces/{namespace}/files/stats", get(stats))
        .route(
            "/namespaces/{namespace}/files",
            get(download)
                .post(upload)
                .put(rename)
                .delete(delete)
                .layer(DefaultBodyLimit::disable()),
        )
}

type NsQuery = Query<Vec<(String, String)>>;

/// The server's storage and the namespace's files.
pub(crate) fn namespace_files(
    state: &ApiState,
    namespace: &str,
) -> ApiResult<(Storage, NamespaceFiles)> {
    let storage = crate::files::storage(state)?.clone();
    let files = NamespaceFiles::new(namespace)?;
    Ok((storage, files))
}

/// The query parameter `key`, required.
fn required<'a>(params: &'a Params, key: &str) -> ApiResult<&'a str> {
    params.get(key).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "query parameter {key}= is required (a path such as /scripts/etl.py)"
        ))
    })
}

/// A folder's entries, or 404 when `path` is neither the root nor a folder holding files.
pub(crate) async fn list_folder(
    storage: &Storage,
    files: &NamespaceFiles,
    path: &str,
) -> ApiResult<Vec<FolderEntry>> {
    let folder = files.uri(path)?;
    let entries = storage.list_folder(&folder).await?;
    if entries.is_empty() && folder != *files.folder() {
        return Err(ApiError::NotFound(format!(
            "no folder {path} in the files of namespace {}",
            files.namespace()
        )));
    }
    Ok(entries)
}

fn entry_json(entry: &FolderEntry) -> Value {
    let modified = entry.last_modified.map_or(0, |at| at.timestamp_millis());
    json!({
        "fileName": entry.name,
        "type": match entry.kind {
            EntryKind::File => "File",
            EntryKind::Directory => "Directory",
        },
        "size": entry.size,
        "lastModifiedTime": modified,
        "creationTime": modified,
        "metadata": {},
    })
}

/// `GET /namespaces/{namespace}/files/directory?path=/`.
async fn directory(
    State(state): State<ApiState>,
    Path(namespace): Path<String>,
    Query(query): NsQuery,
) -> ApiResult<Response> {
    let (storage, files) = namespace_files(&state, &namespace)?;
    let params = Params(query);
    let path = params.get("path").unwrap_or("/");
    let entries = list_folder(&storage, &files, path).await?;
    let listed: Vec<Value> = entries.iter().map(entry_json).collect();
    Ok(Json(listed).into_response())
}

/// `GET /namespaces/{namespace}/files/stats?path=/x.py`.
async fn stats(
    State(state): State<ApiState>,
    Path(namespace): Path<String>,
    Query(query): NsQuery,
) -> ApiResult<Response> {
    let (storage, files) = namespace_files(&state, &namespace)?;
    let params = Params(query);
    let path = params.get("path").unwrap_or("/");
    let uri = files.uri(path)?;
    let entry = match storage.file_meta(&uri).await {
        Ok(file) => FolderEntry {
            name: uri.file_name().to_owned(),
            uri,
            kind: EntryKind::File,
            size: file.size,
            last_modified: Some(file.last_modified),
        },
        Err(baton_storage::Error::NotFound { .. })
            if uri == *files.folder() || !storage.list(&uri).await?.is_empty() =>
        {
            FolderEntry {
                name: uri.file_name().to_owned(),
                uri,
                kind: EntryKind::Directory,
                size: 0,
                last_modified: None,
            }
        }
        Err(baton_storage::Error::NotFound { .. }) => return Err(not_found(&files, path)),
        Err(error) => return Err(error.into()),
    };
    Ok(Json(entry_json(&entry)).into_response())
}

fn not_found(files: &NamespaceFiles, path: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no file {path} in the files of namespace {}",
        files.namespace()
    ))
}

/// Maps storage's "not found" (which names a URI) to one naming the namespace file.
async fn existing(storage: &Storage, files: &NamespaceFiles, path: &str) -> ApiResult<StorageUri> {
    let uri = files.file(path)?;
    if !storage.exists(&uri).await? {
        return Err(not_found(files, path));
    }
    Ok(uri)
}

/// `GET /namespaces/{namespace}/files?path=/x.py`: the file's bytes, streamed.
async fn download(
    State(state): State<ApiState>,
    Path(namespace): Path<String>,
    Query(query): NsQuery,
) -> ApiResult<Response> {
    let (storage, files) = namespace_files(&state, &namespace)?;
    let params = Params(query);
    let path = required(&params, "path")?;
    let uri = existing(&storage, &files, path).await?;
    let download = storage.get_stream(&uri).await?;
    let name = uri.file_name().replace(['"', '\\'], "_");
    let body = Body::from_stream(download.chunks.map_err(std::io::Error::other));
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream".to_owned()),
            (CONTENT_LENGTH, download.size.to_string()),
            (CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response())
}

/// `POST /namespaces/{namespace}/files?path=/x.py` with the multipart part `fileContent`.
async fn upload(
    State(state): State<ApiState>,
    Path(namespace): Path<String>,
    Query(query): NsQuery,
    mut form: Multipart,
) -> ApiResult<Response> {
    let (storage, files) = namespace_files(&state, &namespace)?;
    let params = Params(query);
    let path = required(&params, "path")?;
    let uri = files.file(path)?;
    let bad = |error: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("reading the multipart body: {error}"))
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() == Some("fileContent") {
            storage.put_stream(&uri, field).await?;
            return Ok(StatusCode::OK.into_response());
        }
    }
    Err(ApiError::BadRequest(
        "the multipart body has no fileContent part".to_owned(),
    ))
}

/// `PUT /namespaces/{namespace}/files?from=/a.py&to=/b.py`.
async fn rename(
    State(state): State<ApiState>,
    Path(namespace): Path<String>,
    Query(query): NsQuery,
) -> ApiResult<Response> {
    let (storage, files) = namespace_files(&state, &namespace)?;
    let params = Params(query);
    let from = existing(&storage, &files, required(&params, "from")?).await?;
    let to = files.file(required(&params, "to")?)?;
    storage.rename(&from, &to).await?;
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /namespaces/{namespace}/files?path=/x.py`: a file, or a folder and its files.
async fn delete(
    State(state): State<ApiState>,
    Path(namespace): Path<String>,
    Query(query): NsQuery,
) -> ApiResult<Response> {
    let (storage, files) = namespace_files(&state, &namespace)?;
    let params = Params(query);
    let path = required(&params, "path")?;
    delete_path(&storage, &files, path).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes the file at `path`, or every file under the folder at `path`; 404 when there is
/// neither.
pub(crate) async fn delete_path(
    storage: &Storage,
    files: &NamespaceFiles,
    path: &str,
) -> ApiResult<()> {
    let uri = files.file(path)?;
    if storage.exists(&uri).await? {
        storage.delete(&uri).await?;
    } else if storage.delete_prefix(&uri).await?.is_empty() {
        return Err(not_found(files, path));
    }
    Ok(())
}
