//! `/ui/namespaces/{namespace}/files`: a namespace's files (the ones script tasks get with
//! `namespaceFiles`): browse folders, view and edit a text file, create one, upload one, delete
//! a file or a folder. Plain forms over the same storage calls as the REST API.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use baton_storage::EntryKind;
use serde::Deserialize;

use super::view::{Nav, query_escape, time_text};
use super::{PageResult, html_with};
use crate::namespace_files::{delete_path, list_folder, namespace_files};
use crate::{ApiError, ApiState};

/// The largest file the page shows in its editor; larger ones are downloaded instead.
const EDITABLE_BYTES: u64 = 1024 * 1024;

struct FileRow {
    name: String,
    /// From the namespace root, with a leading `/`.
    path: String,
    folder: bool,
    size: u64,
    modified: String,
}

/// One step of the breadcrumb above the listing.
struct Crumb {
    name: String,
    path: String,
}

#[derive(Template)]
#[template(path = "ui/namespace_files.html")]
struct FilesPage {
    nav: Nav,
    title: String,
    namespace: String,
    /// The folder listed, `/` for the root.
    folder: String,
    crumbs: Vec<Crumb>,
    rows: Vec<FileRow>,
    /// The file open in the editor (its path; empty for a new file) and its text.
    file: Option<String>,
    content: String,
    /// Why the open file cannot be edited here (binary, too large).
    not_editable: Option<String>,
    /// The path field of the editor's form.
    new_path: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct FilesQuery {
    #[serde(default)]
    path: String,
    /// A file to open in the editor.
    #[serde(default)]
    file: String,
}

/// `/scripts/etl.py` from any of `scripts/etl.py`, `/scripts/etl.py/`.
fn rooted(path: &str) -> String {
    format!("/{}", path.trim_matches('/'))
}

fn crumbs(folder: &str) -> Vec<Crumb> {
    let mut crumbs = Vec::new();
    let mut path = String::new();
    for segment in folder.split('/').filter(|s| !s.is_empty()) {
        path.push('/');
        path.push_str(segment);
        crumbs.push(Crumb {
            name: segment.to_owned(),
            path: path.clone(),
        });
    }
    crumbs
}

/// The folder holding `file` (`/` for a file at the root).
fn parent(file: &str) -> String {
    match file.trim_matches('/').rsplit_once('/') {
        Some((folder, _)) => rooted(folder),
        None => "/".to_owned(),
    }
}

async fn files_page(
    state: &ApiState,
    namespace: String,
    query: FilesQuery,
    error: Option<(String, String)>,
) -> PageResult {
    let (storage, files) = namespace_files(state, &namespace)?;
    let file = (!query.file.trim_matches('/').is_empty()).then(|| rooted(&query.file));
    let folder = match &file {
        Some(file) => parent(file),
        None => rooted(&query.path),
    };
    let rows = match list_folder(&storage, &files, &folder).await {
        Ok(entries) => entries
            .into_iter()
            .map(|entry| FileRow {
                path: format!("{}/{}", folder.trim_end_matches('/'), entry.name),
                folder: entry.kind == EntryKind::Directory,
                size: entry.size,
                modified: entry.last_modified.map(time_text).unwrap_or_default(),
                name: entry.name,
            })
            .collect(),
        Err(ApiError::NotFound(_)) => Vec::new(),
        Err(other) => return Err(other.into()),
    };
    let (mut content, mut not_editable) = (String::new(), None);
    if let Some(file) = &file {
        let uri = files.file(file)?;
        match storage.read_text(&uri, EDITABLE_BYTES).await {
            Ok(text) => content = text,
            Err(baton_storage::Error::NotFound { .. }) => {
                return Err(ApiError::NotFound(format!(
                    "no file {file} in the files of namespace {namespace}"
                ))
                .into());
            }
            Err(
                error @ (baton_storage::Error::TooLarge { .. }
                | baton_storage::Error::NotText { .. }),
            ) => not_editable = Some(error.to_string()),
            Err(error) => return Err(error.into()),
        }
    }
    let (status, new_path, error) = match error {
        Some((path, message)) => (StatusCode::UNPROCESSABLE_ENTITY, path, Some(message)),
        None => (
            StatusCode::OK,
            file.clone()
                .unwrap_or_else(|| format!("{}/", folder.trim_end_matches('/'))),
            None,
        ),
    };
    html_with(
        status,
        &FilesPage {
            nav: Nav::of(state, "namespaces"),
            title: format!("{namespace} files"),
            crumbs: crumbs(&folder),
            namespace,
            folder,
            rows,
            file,
            content,
            not_editable,
            new_path,
            error,
        },
    )
}

/// `GET /ui/namespaces/{namespace}/files?path=/folder` (a listing) or `?file=/x.py` (a file
/// open in the editor, beside its folder's listing).
pub async fn page(
    State(state): State<ApiState>,
    Path(namespace): Path<String>,
    Query(query): Query<FilesQuery>,
) -> PageResult {
    files_page(&state, namespace, query, None).await
}

#[derive(Deserialize)]
pub struct SaveForm {
    path: String,
    #[serde(default)]
    content: String,
}

/// `POST /ui/namespaces/{namespace}/files`: writes a file from the editor, then opens it.
pub async fn save(
    State(state): State<ApiState>,
    Path(namespace): Path<String>,
    Form(form): Form<SaveForm>,
) -> PageResult {
    let (storage, files) = namespace_files(&state, &namespace)?;
    let uri = match files.file(&form.path) {
        Ok(uri) => uri,
        Err(error) => {
            // The root: the path's own folder may be what is wrong with it.
            let query = FilesQuery {
                path: "/".to_owned(),
                file: String::new(),
            };
            let message = error.to_string();
            return files_page(&state, namespace, query, Some((form.path, message))).await;
        }
    };
    // Browsers send CRLF line ends from a textarea; scripts want LF.
    let content = form.content.replace("\r\n", "\n");
    storage.put_bytes(&uri, content).await?;
    Ok(Redirect::to(&file_url(&namespace, &rooted(&form.path))).into_response())
}

/// `POST /ui/namespaces/{namespace}/files/upload`: multipart `folder` and `file`.
pub async fn upload(
    State(state): State<ApiState>,
    Path(namespace): Path<String>,
    mut form: Multipart,
) -> PageResult {
    let (storage, files) = namespace_files(&state, &namespace)?;
    let bad = |error: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("reading the upload: {error}"))
    };
    let mut folder = "/".to_owned();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("folder") => folder = field.text().await.map_err(bad)?,
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let name = name.rsplit(['/', '\\']).next().unwrap_or_default();
                if name.is_empty() {
                    return Err(ApiError::BadRequest("choose a file to upload".to_owned()).into());
                }
                let path = format!("{}/{name}", folder.trim_end_matches('/'));
                let uri = files.file(&path)?;
                storage.put_stream(&uri, field).await?;
                return Ok(Redirect::to(&file_url(&namespace, &rooted(&path))).into_response());
            }
            _ => {}
        }
    }
    Err(ApiError::BadRequest("the upload has no file".to_owned()).into())
}

#[derive(Deserialize)]
pub struct DeleteForm {
    path: String,
}

/// `POST /ui/namespaces/{namespace}/files/delete`: a file, or a folder with its files.
pub async fn delete(
    State(state): State<ApiState>,
    Path(namespace): Path<String>,
    Form(form): Form<DeleteForm>,
) -> PageResult {
    let (storage, files) = namespace_files(&state, &namespace)?;
    delete_path(&storage, &files, &form.path).await?;
    let back = format!(
        "/ui/namespaces/{namespace}/files?path={}",
        query_escape(&parent(&form.path))
    );
    Ok(Redirect::to(&back).into_response())
}

fn file_url(namespace: &str, path: &str) -> String {
    format!(
        "/ui/namespaces/{namespace}/files?file={}",
        query_escape(path)
    )
}

/// The page's link to the folder or file at `path`.
fn row_url(namespace: &str, row: &FileRow) -> String {
    if row.folder {
        format!(
            "/ui/namespaces/{namespace}/files?path={}",
            query_escape(&row.path)
        )
    } else {
        file_url(namespace, &row.path)
    }
}

impl FilesPage {
    fn url_of(&self, row: &FileRow) -> String {
        row_url(&self.namespace, row)
    }

    fn folder_url(&self, path: &str) -> String {
        format!(
            "/ui/namespaces/{}/files?path={}",
            self.namespace,
            query_escape(path)
        )
    }

    fn download_url(&self, path: &str) -> String {
        format!(
            "/api/v1/namespaces/{}/files?path={}",
            self.namespace,
            query_escape(path)
        )
    }
}

/// A size as the listing shows it: `512 B`, `1.2 KiB`, `3.4 MiB`.
fn size_text(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

impl FileRow {
    fn size_label(&self) -> String {
        size_text(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_crumbs_come_from_the_path() {
        assert_eq!(parent("/scripts/etl.py"), "/scripts");
        assert_eq!(parent("etl.py"), "/");
        assert_eq!(rooted("scripts/"), "/scripts");
        let names: Vec<String> = crumbs("/a/b").into_iter().map(|c| c.path).collect();
        assert_eq!(names, ["/a", "/a/b"]);
        assert_eq!(size_text(2048), "2.0 KiB");
    }
}
