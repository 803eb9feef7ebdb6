//! `/ui/namespaces`: the namespaces that hold flows, and each namespace's KV pairs (view, add,
//! edit, delete).

use std::collections::BTreeSet;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use baton_core::duration::IsoDuration;
use baton_store::FlowFilter;
use serde::Deserialize;

use super::view::{Nav, pretty_json, time_text};
use super::{PageResult, html, html_with};
use crate::ApiState;

#[derive(Template)]
#[template(path = "ui/namespaces.html")]
struct NamespacesPage {
    nav: Nav,
    title: String,
    namespaces: Vec<String>,
}

/// `GET /ui/namespaces`.
pub async fn namespaces(State(state): State<ApiState>) -> PageResult {
    let flows = state
        .store
        .list_flows(&FlowFilter {
            limit: 10_000,
            ..FlowFilter::default()
        })
        .await?;
    let namespaces: BTreeSet<String> = flows.into_iter().map(|f| f.namespace).collect();
    html(&NamespacesPage {
        nav: Nav::of(&state, "namespaces"),
        title: "Namespaces".into(),
        namespaces: namespaces.into_iter().collect(),
    })
}

struct KvRow {
    key: String,
    value: String,
    /// The value as the edit form shows it: JSON, except a plain string as it is.
    edit: String,
    expires: Option<String>,
    updated: String,
}

#[derive(Template)]
#[template(path = "ui/kv.html")]
struct KvPage {
    nav: Nav,
    title: String,
    namespace: String,
    entries: Vec<KvRow>,
    key: String,
    value: String,
    ttl: String,
    error: Option<String>,
}

async fn kv_page(
    state: &ApiState,
    namespace: String,
    form: Option<(KvForm, String)>,
) -> PageResult {
    let entries = state
        .store
        .kv_list(&namespace)
        .await?
        .into_iter()
        .map(|entry| KvRow {
            edit: match &entry.value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            },
            value: pretty_json(&entry.value),
            expires: entry.expires_at.map(time_text),
            updated: time_text(entry.updated_at),
            key: entry.key,
        })
        .collect();
    let (status, key, value, ttl, error) = match form {
        Some((form, error)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            form.key,
            form.value,
            form.ttl,
            Some(error),
        ),
        None => (
            StatusCode::OK,
            String::new(),
            String::new(),
            String::new(),
            None,
        ),
    };
    html_with(
        status,
        &KvPage {
            nav: Nav::of(state, "namespaces"),
            title: format!("{namespace} KV"),
            namespace,
            entries,
            key,
            value,
            ttl,
            error,
        },
    )
}

/// `GET /ui/namespaces/{namespace}`.
pub async fn page(State(state): State<ApiState>, Path(namespace): Path<String>) -> PageResult {
    kv_page(&state, namespace, None).await
}

#[derive(Deserialize)]
pub struct KvForm {
    key: String,
    value: String,
    /// An ISO-8601 duration (`PT1H`), or empty for no expiry.
    #[serde(default)]
    ttl: String,
}

/// `POST /ui/namespaces/{namespace}`: sets a key. The value is read as JSON when it is JSON
/// (`42`, `{"a": 1}`, `"quoted"`), else kept as the text typed.
pub async fn set(
    State(state): State<ApiState>,
    Path(namespace): Path<String>,
    Form(form): Form<KvForm>,
) -> PageResult {
    let key = form.key.trim();
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        let message = "a key is letters, digits, '-', '_' and '.'".to_owned();
        return kv_page(&state, namespace, Some((form, message))).await;
    }
    let ttl = match form.ttl.trim() {
        "" => None,
        text => match text.parse::<IsoDuration>().map(IsoDuration::to_std) {
            Ok(Some(duration)) => Some(duration),
            Ok(None) => {
                let message = format!("time to live {text:?}: must not be negative");
                return kv_page(&state, namespace, Some((form, message))).await;
            }
            Err(error) => {
                let message = format!("time to live {text:?}: {error}");
                return kv_page(&state, namespace, Some((form, message))).await;
            }
        },
    };
    let value = serde_json::from_str(&form.value)
        .unwrap_or_else(|_| serde_json::Value::String(form.value.clone()));
    state.store.kv_set(&namespace, key, &value, ttl).await?;
    Ok(Redirect::to(&format!("/ui/namespaces/{namespace}")).into_response())
}

/// `POST /ui/namespaces/{namespace}/kv/{key}/delete`.
pub async fn delete(
    State(state): State<ApiState>,
    Path((namespace, key)): Path<(String, String)>,
) -> PageResult {
    state.store.kv_delete(&namespace, &key).await?;
    Ok(Redirect::to(&format!("/ui/namespaces/{namespace}")).into_response())
}
