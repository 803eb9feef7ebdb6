//! Flow pages: the list (namespace tree, search, last execution), a flow's source and graph,
//! the editor (validated on save, every diagnostic at its line and column, the text kept), its
//! revisions with a diff, enable/disable.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use baton_core::diagnostic::{Diagnostic, Position, Severity};
use baton_core::flow::Flow;
use baton_core::topology::Graph;
use baton_store::{ExecutionFilter, FlowFilter, FlowRecord};
use serde::Deserialize;

use super::diff::{DiffLine, diff};
use super::executions::ExecutionRow;
use super::highlight::{Line, lines};
use super::view::{Nav, query_string, time_text};
use super::{PageResult, html, html_with};
use crate::{ApiError, ApiState};

/// The most flows the list reads; a search narrows it.
const MAX_FLOWS: u32 = 5_000;
/// The most rows the list shows (each costs a read of its last execution).
const MAX_ROWS: usize = 200;

/// What every page of one flow shows at the top.
pub struct FlowHeader {
    pub namespace: String,
    pub id: String,
    pub revision: i32,
    pub disabled: bool,
    /// Which tab is open: `source`, `edit`, `execute`, `triggers`, `revisions`.
    pub tab: &'static str,
}

impl FlowHeader {
    pub fn of(record: &FlowRecord, tab: &'static str) -> Self {
        Self {
            namespace: record.namespace.clone(),
            id: record.id.clone(),
            revision: record.revision,
            disabled: record.disabled,
            tab,
        }
    }
}

struct NamespaceNode {
    prefix: String,
    label: String,
    depth: usize,
    count: usize,
    selected: bool,
}

struct FlowRow {
    namespace: String,
    id: String,
    revision: i32,
    disabled: bool,
    last: Option<ExecutionRow>,
}

#[derive(Template)]
#[template(path = "ui/flows.html")]
struct FlowsPage {
    nav: Nav,
    title: String,
    q: String,
    namespace: String,
    tree: Vec<NamespaceNode>,
    rows: Vec<FlowRow>,
    /// More flows matched than are shown.
    truncated: bool,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    namespace: String,
}

/// `GET /ui/flows?q=&namespace=`.
pub async fn list(State(state): State<ApiState>, Query(query): Query<ListQuery>) -> PageResult {
    let flows = state
        .store
        .list_flows(&FlowFilter {
            limit: MAX_FLOWS,
            ..FlowFilter::default()
        })
        .await?;
    let tree = namespace_tree(&flows, &query.namespace);
    let needle = query.q.trim().to_lowercase();
    let in_namespace = |ns: &str| {
        query.namespace.is_empty()
            || ns == query.namespace
            || ns.starts_with(&format!("{}.", query.namespace))
    };
    let matching: Vec<&FlowRecord> = flows
        .iter()
        .filter(|f| in_namespace(&f.namespace))
        .filter(|f| {
            needle.is_empty()
                || format!("{}.{}", f.namespace, f.id)
                    .to_lowercase()
                    .contains(&needle)
        })
        .collect();
    // One indexed read per flow shown (namespace, flow, newest first), issued together.
    let rows =
        futures_util::future::try_join_all(matching.iter().take(MAX_ROWS).map(|record| async {
            let filter = ExecutionFilter {
                namespace: Some(record.namespace.clone()),
                flow_id: Some(record.id.clone()),
                ..ExecutionFilter::default()
            };
            let last = state.store.list_executions(&filter, None, 1).await?;
            Ok::<_, baton_store::Error>(FlowRow {
                namespace: record.namespace.clone(),
                id: record.id.clone(),
                revision: record.revision,
                disabled: record.disabled,
                last: last.items.first().map(ExecutionRow::of),
            })
        }))
        .await?;
    html(&FlowsPage {
        nav: Nav::of(&state, "flows"),
        title: "Flows".into(),
        q: query.q,
        namespace: query.namespace,
        tree,
        truncated: matching.len() > rows.len(),
        rows,
    })
}

/// Every namespace and each of its parents (`company`, `company.team`), with how many flows
/// sit at or under it, in tree order.
fn namespace_tree(flows: &[FlowRecord], selected: &str) -> Vec<NamespaceNode> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for flow in flows {
        let mut prefix = String::new();
        for segment in flow.namespace.split('.') {
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(segment);
            *counts.entry(prefix.clone()).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(prefix, count)| NamespaceNode {
            depth: prefix.matches('.').count(),
            label: prefix.rsplit('.').next().unwrap_or_default().to_owned(),
            selected: prefix == selected,
            prefix,
            count,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "ui/flow.html")]
struct FlowPage {
    nav: Nav,
    title: String,
    flow: FlowHeader,
    description: Option<String>,
    lines: Vec<Line>,
    /// The SVG of the task graph; empty when the stored source no longer parses.
    topology: String,
    problems: Vec<DiagnosticView>,
    executions: Vec<ExecutionRow>,
    executions_link: String,
}

#[derive(Deserialize, Default)]
pub struct RevisionQuery {
    revision: Option<i32>,
}

/// `GET /ui/flows/{namespace}/{id}?revision=N`: the source, highlighted, the task graph and
/// the latest executions.
pub async fn page(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
    Query(query): Query<RevisionQuery>,
) -> PageResult {
    let record = state
        .store
        .get_flow(&namespace, &id, query.revision)
        .await?;
    let parsed = state.parser.parse(&record.source);
    let problems: Vec<DiagnosticView> = parsed.diagnostics.iter().map(DiagnosticView::of).collect();
    let flagged: Vec<usize> = problems.iter().map(|d| d.line).collect();
    let topology = parsed
        .flow
        .as_ref()
        .map(|flow| super::topology::svg(&Graph::of(flow), &HashMap::new()))
        .unwrap_or_default();
    let filter = ExecutionFilter {
        namespace: Some(namespace.clone()),
        flow_id: Some(id.clone()),
        ..ExecutionFilter::default()
    };
    let executions = state.store.list_executions(&filter, None, 10).await?;
    html(&FlowPage {
        nav: Nav::of(&state, "flows"),
        title: format!("{namespace}.{id}"),
        flow: FlowHeader::of(&record, "source"),
        description: parsed
            .flow
            .as_ref()
            .and_then(|f: &Flow| f.description.clone()),
        lines: lines(&record.source, &flagged),
        topology,
        problems,
        executions: executions.items.iter().map(ExecutionRow::of).collect(),
        executions_link: format!(
            "/ui/executions?{}",
            query_string([("namespace", namespace.as_str()), ("flowId", id.as_str())])
        ),
    })
}

/// A diagnostic as the editor lists it.
pub struct DiagnosticView {
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub severity: &'static str,
}

impl DiagnosticView {
    pub fn of(diagnostic: &Diagnostic) -> Self {
        Self {
            line: diagnostic.position.line as usize,
            column: diagnostic.position.column as usize,
            message: diagnostic.message.clone(),
            severity: match diagnostic.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
        }
    }
}

#[derive(Template)]
#[template(path = "ui/edit.html")]
struct EditPage {
    nav: Nav,
    title: String,
    /// `None` for a new flow.
    flow: Option<FlowHeader>,
    action: String,
    source: String,
    diagnostics: Vec<DiagnosticView>,
    /// The revision just saved, when the save had warnings to show.
    saved: Option<i32>,
}

const NEW_FLOW: &str = "id: hello\nnamespace: company.team\n\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: Hello from Baton\n";

/// `GET /ui/flows/new`: the editor with a starting flow.
pub async fn new_form(State(state): State<ApiState>) -> PageResult {
    html(&EditPage {
        nav: Nav::of(&state, "flows"),
        title: "New flow".into(),
        flow: None,
        action: "/ui/flows/new".into(),
        source: NEW_FLOW.into(),
        diagnostics: Vec::new(),
        saved: None,
    })
}

/// `GET /ui/flows/{namespace}/{id}/edit`.
pub async fn edit_form(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
) -> PageResult {
    let record = state.store.get_flow(&namespace, &id, None).await?;
    html(&EditPage {
        nav: Nav::of(&state, "flows"),
        title: format!("Edit {namespace}.{id}"),
        action: format!("/ui/flows/{namespace}/{id}/edit"),
        source: record.source.clone(),
        flow: Some(FlowHeader::of(&record, "edit")),
        diagnostics: Vec::new(),
        saved: None,
    })
}

#[derive(Deserialize)]
pub struct SourceForm {
    source: String,
}

/// `POST /ui/flows/new`.
pub async fn create(State(state): State<ApiState>, Form(form): Form<SourceForm>) -> PageResult {
    save_source(&state, None, form.source).await
}

/// `POST /ui/flows/{namespace}/{id}/edit`.
pub async fn save(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
    Form(form): Form<SourceForm>,
) -> PageResult {
    let record = state.store.get_flow(&namespace, &id, None).await?;
    save_source(&state, Some(record), form.source).await
}

/// Validates and deploys `source`. A flow with errors is shown again, text intact, with every
/// diagnostic (422); a saved one goes to its page, or stays in the editor when there are
/// warnings to read.
async fn save_source(state: &ApiState, current: Option<FlowRecord>, source: String) -> PageResult {
    // Browsers send textarea lines with CRLF; store what the user typed.
    let source = source.replace("\r\n", "\n");
    let mut parsed = state.parser.parse(&source);
    if let Some(flow) = &parsed.flow {
        let identity_problem = match &current {
            Some(record) if record.namespace != flow.namespace || record.id != flow.id => {
                Some(format!(
                    "this editor saves {}.{}; a flow's namespace and id cannot change (create a new flow instead)",
                    record.namespace, record.id
                ))
            }
            None => match state.store.get_flow(&flow.namespace, &flow.id, None).await {
                Ok(_) => Some(format!(
                    "flow {}.{} already exists; open it to edit it",
                    flow.namespace, flow.id
                )),
                Err(baton_store::Error::FlowNotFound { .. }) => None,
                Err(error) => return Err(error.into()),
            },
            Some(_) => None,
        };
        if let Some(message) = identity_problem {
            parsed.flow = None;
            parsed
                .diagnostics
                .insert(0, Diagnostic::error(identity_position(&source), message));
        }
    }
    let diagnostics: Vec<DiagnosticView> =
        parsed.diagnostics.iter().map(DiagnosticView::of).collect();
    let Some(flow) = parsed.flow else {
        let title = match &current {
            Some(record) => format!("Edit {}.{}", record.namespace, record.id),
            None => "New flow".to_owned(),
        };
        return html_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &EditPage {
                nav: Nav::of(state, "flows"),
                title,
                action: match &current {
                    Some(r) => format!("/ui/flows/{}/{}/edit", r.namespace, r.id),
                    None => "/ui/flows/new".into(),
                },
                flow: current.as_ref().map(|r| FlowHeader::of(r, "edit")),
                source,
                diagnostics,
                saved: None,
            },
        );
    };
    let record = state
        .store
        .deploy_flow(&flow.namespace, &flow.id, &source, flow.disabled)
        .await?;
    if diagnostics.is_empty() {
        let path = format!("/ui/flows/{}/{}", record.namespace, record.id);
        return Ok(Redirect::to(&path).into_response());
    }
    html(&EditPage {
        nav: Nav::of(state, "flows"),
        title: format!("Edit {}.{}", record.namespace, record.id),
        action: format!("/ui/flows/{}/{}/edit", record.namespace, record.id),
        flow: Some(FlowHeader::of(&record, "edit")),
        source,
        diagnostics,
        saved: Some(record.revision),
    })
}

/// Where the `id:` (or else `namespace:`) key is written, for an identity error.
fn identity_position(source: &str) -> Position {
    let line = source
        .lines()
        .position(|l| l.starts_with("id:"))
        .or_else(|| source.lines().position(|l| l.starts_with("namespace:")))
        .unwrap_or(0);
    Position {
        line: line as u32 + 1,
        column: 1,
    }
}

struct RevisionRow {
    revision: i32,
    created: String,
    deleted: bool,
    selected: bool,
}

#[derive(Template)]
#[template(path = "ui/revisions.html")]
struct RevisionsPage {
    nav: Nav,
    title: String,
    flow: FlowHeader,
    revisions: Vec<RevisionRow>,
    /// The revision shown, compared with the one before it.
    shown: i32,
    previous: Option<i32>,
    diff: Vec<DiffLine>,
}

/// `GET /ui/flows/{namespace}/{id}/revisions?revision=N`: every revision, and what revision N
/// (the latest by default) changed.
pub async fn revisions(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
    Query(query): Query<RevisionQuery>,
) -> PageResult {
    let all = state.store.list_revisions(&namespace, &id).await?;
    let Some(latest) = all.last() else {
        return Err(ApiError::NotFound(format!("flow {namespace}.{id} not found")).into());
    };
    let shown = query.revision.unwrap_or(latest.revision);
    let Some(position) = all.iter().position(|r| r.revision == shown) else {
        return Err(ApiError::NotFound(format!(
            "flow {namespace}.{id} revision {shown} not found"
        ))
        .into());
    };
    let before = position.checked_sub(1).map(|p| &all[p]);
    let diff = diff(
        before.map_or("", |r| r.source.as_str()),
        &all[position].source,
    );
    html(&RevisionsPage {
        nav: Nav::of(&state, "flows"),
        title: format!("{namespace}.{id} revisions"),
        flow: FlowHeader::of(latest, "revisions"),
        revisions: all
            .iter()
            .rev()
            .map(|r| RevisionRow {
                revision: r.revision,
                created: time_text(r.created_at),
                deleted: r.deleted,
                selected: r.revision == shown,
            })
            .collect(),
        shown,
        previous: before.map(|r| r.revision),
        diff,
    })
}

/// `POST /ui/flows/{namespace}/{id}/toggle`: disables an enabled flow, enables a disabled one
/// (the store updates the flag of the current revision in place; no new revision).
pub async fn toggle(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
) -> PageResult {
    let record = state.store.get_flow(&namespace, &id, None).await?;
    state
        .store
        .deploy_flow(&namespace, &id, &record.source, !record.disabled)
        .await?;
    Ok(Redirect::to(&format!("/ui/flows/{namespace}/{id}")).into_response())
}
