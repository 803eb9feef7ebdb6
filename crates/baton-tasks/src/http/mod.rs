//! `http.download` and `http.request` (`io.kestra.plugin.core.http.{Download,Request}`): one
//! HTTP request built as Kestra's `AbstractHttp` builds it — `method` (GET), `headers`, `body`
//! sent with `contentType` (`application/json` by default), or `formData` (URL-encoded, or
//! `multipart/form-data` with `kestra://` URIs sent as files) — and the response checked the way
//! Kestra's client checks it: a code ≥ 400 (or one outside `options.allowedResponseCodes`) fails
//! the task with "Failed http request with response code 'N'" unless `options.allowFailed`.
//!
//! `download.rs` streams the body into internal storage; `request.rs` keeps it as an output.

mod client;
mod download;
mod request;

use std::collections::BTreeMap;

use baton_core::flow::props::HttpProps;
use reqwest::header::HeaderMap;
use tokio_util::sync::CancellationToken;

use crate::{RunContext, TaskOutcome, render};

/// Which of the two tasks runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Download,
    Request,
}

pub(crate) async fn run(
    kind: Kind,
    props: &HttpProps,
    run: &RunContext,
    cancel: &CancellationToken,
) -> TaskOutcome {
    let props = match render::props(props, run) {
        Ok(props) => props,
        Err(error) => return TaskOutcome::failed(error),
    };
    let work = async {
        match kind {
            Kind::Download => download::run(&props, run).await,
            Kind::Request => request::run(&props, run).await,
        }
    };
    // Dropping the request closes its connection; a download in progress is aborted by
    // `put_stream`'s writer being dropped, so nothing half-written is kept.
    tokio::select! {
        outcome = work => outcome.unwrap_or_else(TaskOutcome::failed),
        () = cancel.cancelled() => TaskOutcome::killed(),
    }
}

/// The response headers as Kestra outputs them: name → every value, names in lower case.
fn headers_output(headers: &HeaderMap) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        out.entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    out
}

/// The most of a failed response's body quoted in the task's error.
const ERROR_BODY_BYTES: usize = 4096;

/// Fails a response whose code the task does not accept, quoting the start of its body.
async fn check_status(
    response: reqwest::Response,
    settings: &client::Settings,
) -> Result<reqwest::Response, String> {
    let code = response.status().as_u16();
    let accepted = match &settings.allowed_codes {
        Some(codes) => codes.contains(&code),
        None => code < 400,
    };
    if accepted || settings.allow_failed {
        return Ok(response);
    }
    let mut message = format!("Failed http request with response code '{code}'");
    let mut body = Vec::new();
    let mut response = response;
    while body.len() < ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    if !body.is_empty() {
        let cut = body.len().min(ERROR_BODY_BYTES);
        message.push_str(" and body:\n");
        message.push_str(&String::from_utf8_lossy(&body[..cut]));
        if body.len() > cut {
            message.push('…');
        }
    }
    Err(message)
}

/// A transport error with its causes (`connection refused`, `timed out`…), which reqwest's own
/// message leaves out.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else if error.is_body() || error.is_decode() {
        "cannot read the response body".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    let mut last = String::new();
    while let Some(cause) = source {
        let message = cause.to_string();
        // hyper repeats a cause's text in its wrapper; say each once.
        if !message.is_empty() && !last.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        last = message;
        source = cause.source();
    }
    text
}
