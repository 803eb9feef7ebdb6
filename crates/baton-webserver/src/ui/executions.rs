//! `/ui/executions`: the executions list with filters (namespace, flow, state, date range,
//! labels), keyset pages read straight from the store (newest first, `after` = the last row
//! of the previous page, so page 4,000 costs what page 1 does), and auto-refresh of the first
//! page (the script asks for `fragment=rows` and swaps the table body).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use baton_core::execution::State as ExecutionState;
use baton_store::{Execution, ExecutionFilter};
use chrono::{Days, Utc};

use super::view::{Nav, duration_text, query_string, state_class, time_text};
use super::{PageResult, html};
use crate::ApiState;
use crate::executions::{date, format_cursor, parse_cursor, states};
use crate::query::Params;

const PAGE_SIZE: u32 = 25;
const MAX_PAGE_SIZE: u32 = 200;

/// One execution as lists show it.
pub struct ExecutionRow {
    pub id: String,
    /// The end of the id: UUIDv7s share their leading (time) digits, the tail tells them apart.
    pub short_id: String,
    pub namespace: String,
    pub flow_id: String,
    pub state: ExecutionState,
    pub class: String,
    pub created: String,
    pub duration: String,
    pub labels: Vec<String>,
}

impl ExecutionRow {
    pub fn of(row: &Execution) -> Self {
        let id = row.id.to_string();
        let ended = row.ended_at.unwrap_or_else(Utc::now);
        Self {
            short_id: id[id.len() - 8..].to_owned(),
            id,
            namespace: row.namespace.clone(),
            flow_id: row.flow_id.clone(),
            state: row.state,
            class: state_class(row.state),
            created: time_text(row.created_at),
            duration: duration_text(ended - row.created_at),
            labels: row.labels.iter().map(|(k, v)| format!("{k}:{v}")).collect(),
        }
    }
}

struct StateChoice {
    name: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "ui/executions.html")]
struct ExecutionsPage {
    nav: Nav,
    title: String,
    namespace: String,
    flow_id: String,
    states: Vec<StateChoice>,
    from: String,
    to: String,
    labels: String,
    executions: Vec<ExecutionRow>,
    /// The link to the next (older) page, when there is one.
    next: Option<String>,
    /// This is the first page: only it refreshes itself.
    first_page: bool,
}

#[derive(Template)]
#[template(path = "ui/exec_rows.html")]
struct RowsFragment {
    executions: Vec<ExecutionRow>,
}

/// `GET /ui/executions?namespace=&flowId=&state=…&from=YYYY-MM-DD&to=YYYY-MM-DD&labels=k:v,…
/// &after=&size=&fragment=rows`. `to` includes its whole day.
pub async fn list(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> PageResult {
    let params = Params(query);
    let chosen = states(&params)?;
    let labels_text = params.get("labels").unwrap_or_default().to_owned();
    let labels = labels_text
        .split([',', ' '])
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once(':') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(crate::ApiError::BadRequest(format!(
                "label filter {pair:?}: expected key:value"
            ))),
        })
        .collect::<Result<_, _>>()?;
    let filter = ExecutionFilter {
        namespace: params.get("namespace").map(str::to_owned),
        flow_id: params.get("flowId").map(str::to_owned),
        states: chosen.clone(),
        created_from: date(&params, "from")?,
        created_to: date(&params, "to")?.and_then(|day| day.checked_add_days(Days::new(1))),
        labels,
    };
    let size = params
        .parse::<u32>("size")?
        .unwrap_or(PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let after = params.get("after").map(parse_cursor).transpose()?;
    let page = state.store.list_executions(&filter, after, size).await?;
    let executions: Vec<ExecutionRow> = page.items.iter().map(ExecutionRow::of).collect();
    if params.get("fragment") == Some("rows") {
        let body = RowsFragment { executions }
            .render()
            .map_err(crate::ApiError::from)?;
        return Ok(Html(body).into_response());
    }

    let get = |key: &str| params.get(key).unwrap_or_default().to_owned();
    let (namespace, flow_id, from, to) = (get("namespace"), get("flowId"), get("from"), get("to"));
    let next = page.next.map(|cursor| {
        let cursor = format_cursor(cursor);
        let mut pairs = vec![
            ("namespace", namespace.as_str()),
            ("flowId", flow_id.as_str()),
            ("from", from.as_str()),
            ("to", to.as_str()),
            ("labels", labels_text.as_str()),
        ];
        pairs.extend(chosen.iter().map(|s| ("state", s.as_str())));
        pairs.push(("after", cursor.as_str()));
        format!("/ui/executions?{}", query_string(pairs))
    });
    html(&ExecutionsPage {
        nav: Nav::of(&state, "executions"),
        title: "Executions".into(),
        states: ExecutionState::ALL
            .iter()
            .map(|s| StateChoice {
                name: s.as_str(),
                checked: chosen.contains(s),
            })
            .collect(),
        namespace,
        flow_id,
        from,
        to,
        labels: labels_text,
        executions,
        next,
        first_page: after.is_none(),
    })
}
