//! `/api/v1/flows`: deploy (validated first), read, revisions, delete, search, validate, import.

use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use baton_core::diagnostic::Diagnostic;
use baton_core::parse::ParsedFlow;
use baton_core::yaml::{YamlLimits, parse_documents};
use baton_store::{FlowFilter, FlowRecord};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiResult, diagnostic_json};
use crate::query::Params;

/// Page size of `GET /flows/search` when `size` is not given, and its ceiling.
const DEFAULT_PAGE: u32 = 25;
const MAX_PAGE: u32 = 500;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/flows", post(create))
        .route("/flows/search", get(search))
        .route("/flows/validate", post(validate))
        .route("/flows/import", post(import))
        .route(
            "/flows/{namespace}/{id}",
            get(read).put(update).delete(delete),
        )
        .route("/flows/{namespace}/{id}/revisions", get(revisions))
}

/// One revision of a flow as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FlowBody {
    namespace: String,
    id: String,
    revision: i32,
    source: String,
    disabled: bool,
    deleted: bool,
    created: DateTime<Utc>,
    /// Only on deploys: what the parser accepted but wants the author to know.
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<Vec<Value>>,
}

impl FlowBody {
    fn new(record: FlowRecord, warnings: Option<&[Diagnostic]>) -> Self {
        Self {
            namespace: record.namespace,
            id: record.id,
            revision: record.revision,
            source: record.source,
            disabled: record.disabled,
            deleted: record.deleted,
            created: record.created_at,
            warnings: warnings.map(|w| w.iter().map(diagnostic_json).collect()),
        }
    }
}

fn utf8(body: &[u8]) -> ApiResult<&str> {
    std::str::from_utf8(body)
        .map_err(|error| ApiError::BadRequest(format!("the flow source is not UTF-8: {error}")))
}

/// Parses one flow; any error is a 422 with every diagnostic, and nothing is deployed.
fn parse_one(state: &ApiState, source: &str) -> ApiResult<(baton_core::flow::Flow, ParsedFlow)> {
    let mut parsed = state.parser.parse(source);
    match parsed.flow.take() {
        Some(flow) => Ok((flow, parsed)),
        None => Err(ApiError::invalid_flow(parsed.diagnostics)),
    }
}

/// Parses one flow and deploys it: its first revision, or a new one when the source changed
/// (an upsert, as Kestra's import does). Answers the revision and the parser's warnings.
pub(crate) async fn deploy(
    state: &ApiState,
    source: &str,
) -> ApiResult<(FlowRecord, Vec<Diagnostic>)> {
    let (flow, parsed) = parse_one(state, source)?;
    let record = state
        .store
        .deploy_flow(&flow.namespace, &flow.id, source, flow.disabled)
        .await?;
    Ok((record, parsed.diagnostics))
}

/// `POST /api/v1/flows`, body = YAML. Creates a flow; 409 if it already exists (use `PUT`).
async fn create(State(state): State<ApiState>, body: Bytes) -> ApiResult<impl IntoResponse> {
    let source = utf8(&body)?;
    let (flow, parsed) = parse_one(&state, source)?;
    match state.store.get_flow(&flow.namespace, &flow.id, None).await {
        Ok(_) => {
            return Err(ApiError::Conflict(format!(
                "flow {}.{} already exists; update it with PUT /api/v1/flows/{}/{}",
                flow.namespace, flow.id, flow.namespace, flow.id
            )));
        }
        Err(baton_store::Error::FlowNotFound { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    let record = state
        .store
        .deploy_flow(&flow.namespace, &flow.id, source, flow.disabled)
        .await?;
    Ok(Json(FlowBody::new(record, Some(&parsed.diagnostics))))
}

/// `PUT /api/v1/flows/{namespace}/{id}`, body = YAML. The body must name the same flow.
async fn update(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let source = utf8(&body)?;
    let (flow, parsed) = parse_one(&state, source)?;
    if flow.namespace != namespace || flow.id != id {
        return Err(ApiError::BadRequest(format!(
            "the body defines flow {}.{} but the path names {namespace}.{id}; \
             a flow's namespace and id cannot change",
            flow.namespace, flow.id
        )));
    }
    state.store.get_flow(&namespace, &id, None).await?;
    let record = state
        .store
        .deploy_flow(&namespace, &id, source, flow.disabled)
        .await?;
    Ok(Json(FlowBody::new(record, Some(&parsed.diagnostics))))
}

/// `GET /api/v1/flows/{namespace}/{id}?revision=N`: the latest revision when none is given.
async fn read(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let revision = Params(query).parse::<i32>("revision")?;
    let record = read_flow(&state, &namespace, &id, revision).await?;
    Ok(Json(FlowBody::new(record, None)))
}

/// A flow's latest revision, or `revision`; 404 naming the revision when it is the one missing.
pub(crate) async fn read_flow(
    state: &ApiState,
    namespace: &str,
    id: &str,
    revision: Option<i32>,
) -> ApiResult<FlowRecord> {
    state
        .store
        .get_flow(namespace, id, revision)
        .await
        .map_err(|error| match (error, revision) {
            (baton_store::Error::FlowNotFound { .. }, Some(revision)) => ApiError::NotFound(
                format!("flow {namespace}.{id} revision {revision} not found"),
            ),
            (error, _) => error.into(),
        })
}

/// `GET /api/v1/flows/{namespace}/{id}/revisions`: every revision, oldest first.
async fn revisions(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let revisions = state.store.list_revisions(&namespace, &id).await?;
    if revisions.is_empty() {
        return Err(baton_store::Error::FlowNotFound { namespace, id }.into());
    }
    let bodies: Vec<FlowBody> = revisions
        .into_iter()
        .map(|r| FlowBody::new(r, None))
        .collect();
    Ok(Json(bodies))
}

/// `DELETE /api/v1/flows/{namespace}/{id}`: a soft delete; revisions stay readable. 204.
async fn delete(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    state.store.delete_flow(&namespace, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/flows/search?namespace=prefix&size=&after=` (keyset: pass back `next`), or
/// Kestra's `page=` (1-based) with `size=`.
async fn search(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let params = Params(query);
    let page = FlowPage {
        namespace_prefix: params.get("namespace").map(str::to_owned),
        size: params.parse::<u32>("size")?,
        page: params.parse::<u32>("page")?,
        after: params.get("after").map(str::to_owned),
    };
    let (flows, next) = list_flows(&state, page).await?;
    let results: Vec<FlowBody> = flows.into_iter().map(|r| FlowBody::new(r, None)).collect();
    Ok(Json(json!({"results": results, "next": next})))
}

/// Which flows a search asks for.
#[derive(Default)]
pub(crate) struct FlowPage {
    pub namespace_prefix: Option<String>,
    /// Flows per page: [`DEFAULT_PAGE`] when not given, at most [`MAX_PAGE`].
    pub size: Option<u32>,
    /// Kestra's 1-based page number, when no cursor is given.
    pub page: Option<u32>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// One page of flows (latest revisions) and the cursor of the next, when there may be one.
pub(crate) async fn list_flows(
    state: &ApiState,
    request: FlowPage,
) -> ApiResult<(Vec<FlowRecord>, Option<String>)> {
    let size = request.size.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let page = request.page.unwrap_or(1).max(1);
    let after = match request.after.as_deref() {
        Some(cursor) => Some(
            cursor
                .split_once('/')
                .map(|(ns, id)| (ns.to_owned(), id.to_owned()))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "page cursor {cursor:?}: expected the `next` of a previous page"
                    ))
                })?,
        ),
        None => None,
    };
    // Pages after the first without a cursor: read the pages before and skip them.
    let skip = if after.is_none() {
        (page - 1) * size
    } else {
        0
    };
    let filter = FlowFilter {
        namespace_prefix: request.namespace_prefix,
        after,
        limit: skip.saturating_add(size),
    };
    let flows = state.store.list_flows(&filter).await?;
    let full = flows.len() >= filter.limit as usize;
    let flows: Vec<FlowRecord> = flows.into_iter().skip(skip as usize).collect();
    let next = flows
        .last()
        .filter(|_| full)
        .map(|last| format!("{}/{}", last.namespace, last.id));
    Ok((flows, next))
}

/// `POST /api/v1/flows/validate`, body = one or several `---` separated flows. Always 200: the
/// verdict is in the body, one entry per document, as Kestra does.
async fn validate(State(state): State<ApiState>, body: Bytes) -> ApiResult<impl IntoResponse> {
    let source = utf8(&body)?;
    let verdicts: Vec<Value> = validate_source(&state, source)
        .into_iter()
        .map(|verdict| {
            json!({
                "index": verdict.index,
                "namespace": verdict.namespace,
                "id": verdict.id,
                "valid": verdict.valid,
                "diagnostics": verdict.diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(verdicts))
}

/// What validation says about one document of a source.
pub(crate) struct FlowVerdict {
    pub index: usize,
    pub namespace: Option<String>,
    pub id: Option<String>,
    pub valid: bool,
    pub diagnostics: Vec<Diagnostic>,
}

/// One verdict per document of `source`; nothing is deployed.
pub(crate) fn validate_source(state: &ApiState, source: &str) -> Vec<FlowVerdict> {
    let parsed = state.parser.parse_all(source);
    // The parser drops the flow of a document with errors; read its identity from the tree so
    // the answer can still say which flow each verdict is about.
    let trees = parse_documents(source, &YamlLimits::default()).unwrap_or_default();
    parsed
        .into_iter()
        .enumerate()
        .map(|(index, parsed)| {
            let field = |key: &str| -> Option<String> {
                match &parsed.flow {
                    Some(flow) if key == "id" => Some(flow.id.clone()),
                    Some(flow) => Some(flow.namespace.clone()),
                    None => trees
                        .get(index)
                        .and_then(|root| root.get(key))
                        .and_then(|node| node.as_str())
                        .map(str::to_owned),
                }
            };
            FlowVerdict {
                index,
                namespace: field("namespace"),
                id: field("id"),
                valid: parsed.is_valid(),
                diagnostics: parsed.diagnostics,
            }
        })
        .collect()
}

/// `POST /api/v1/flows/import`, multipart with one or more `fileUpload` parts, each a YAML file
/// of one or more flows. Every flow is validated before any is deployed; existing flows get a
/// new revision (an upsert, as Kestra's import does). Answers the deployed flows.
async fn import(
    State(state): State<ApiState>,
    mut form: Multipart,
) -> ApiResult<impl IntoResponse> {
    let mut sources = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|error| ApiError::BadRequest(format!("reading the multipart body: {error}")))?
    {
        if field.name() != Some("fileUpload") {
            continue;
        }
        let file = field.file_name().unwrap_or("fileUpload").to_owned();
        let bytes = field.bytes().await.map_err(|error| {
            ApiError::BadRequest(format!("reading the multipart body: {error}"))
        })?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::BadRequest(format!("{file} is not UTF-8 text")))?;
        sources.push((file, text));
    }
    if sources.is_empty() {
        return Err(ApiError::BadRequest(
            "no `fileUpload` part in the multipart body".into(),
        ));
    }

    let mut flows = Vec::new();
    let mut diagnostics = Vec::new();
    for (file, source) in &sources {
        let parsed = state.parser.parse_all(source);
        // A one-flow file is stored as it is; a stream is split when the split agrees with
        // the parser on the number of documents, else each flow keeps the whole file.
        let documents = Some(split_documents(source))
            .filter(|documents| parsed.len() > 1 && documents.len() == parsed.len())
            .unwrap_or_default();
        for (index, parsed) in parsed.into_iter().enumerate() {
            match parsed.flow {
                Some(flow) => {
                    // Each document is stored as its own source text, so its revisions read
                    // like a single-flow file.
                    let text = documents
                        .get(index)
                        .cloned()
                        .unwrap_or_else(|| source.clone());
                    flows.push((flow, text, parsed.diagnostics));
                }
                None => diagnostics.extend(parsed.diagnostics.into_iter().map(|mut d| {
                    d.message = format!("{file}: {}", d.message);
                    d
                })),
            }
        }
    }
    if !diagnostics.is_empty() {
        return Err(ApiError::invalid_flow(diagnostics));
    }
    let mut deployed = Vec::new();
    for (flow, source, warnings) in flows {
        let record = state
            .store
            .deploy_flow(&flow.namespace, &flow.id, &source, flow.disabled)
            .await?;
        deployed.push(FlowBody::new(record, Some(&warnings)));
    }
    Ok(Json(deployed))
}

/// Splits a YAML stream on its `---` document markers, so each flow keeps its own text. A
/// stream without markers is one document. Line positions of diagnostics refer to the whole
/// file, which is why parsing uses the full text and this only decides what gets stored.
fn split_documents(source: &str) -> Vec<String> {
    let mut documents = vec![String::new()];
    for line in source.split_inclusive('\n') {
        let marker = line.trim_end();
        if marker == "---" || marker.starts_with("--- ") {
            documents.push(String::new());
            continue;
        }
        if let Some(current) = documents.last_mut() {
            current.push_str(line);
        }
    }
    documents.retain(|d| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    documents
}

#[cfg(test)]
mod tests {
    use super::split_documents;

    #[test]
    fn split_documents_keeps_each_flow_text() {
        let docs = split_documents("---\nid: a\n---\n# c\nid: b\n");
        assert_eq!(docs, vec!["id: a\n".to_owned(), "# c\nid: b\n".to_owned()]);
        assert_eq!(split_documents("id: a\n"), vec!["id: a\n".to_owned()]);
    }
}
