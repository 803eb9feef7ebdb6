//! `http.request`: the response kept as outputs — `uri` (the request's), `code`, `headers` and
//! `body`, which is parsed when the response says it is JSON and kept as text otherwise. Bodies
//! are capped at `options.maxContentLength`, 10 MiB by default as in Kestra: large payloads
//! belong in `http.download`.

use baton_core::flow::props::HttpProps;
use baton_core::flow::task::LogLevel;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::{check_status, client, describe, headers_output};
use crate::{RunContext, TaskOutcome};

const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;

pub(super) async fn run(props: &HttpProps, run: &RunContext) -> Result<TaskOutcome, String> {
    if props.encrypt_body == Some(true) {
        return Err("encryptBody: encrypted outputs are not supported by Baton yet".to_owned());
    }
    let prepared = client::prepare(props, run).await?;
    let settings = prepared.settings;
    let (method, url) = (prepared.method, prepared.url);
    let response = prepared
        .request
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {}", describe(&e)))?;
    let mut response = check_status(response, &settings).await?;
    let code = response.status().as_u16();
    let headers = headers_output(response.headers());
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_type);
    let limit = settings.max_content_length.unwrap_or(DEFAULT_MAX_BODY);
    let too_large = || {
        format!(
            "{url}: the response is larger than options.maxContentLength ({limit} bytes); \
             http.download stores large bodies in internal storage"
        )
    };
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("{method} {url}: {}", describe(&e)))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).map_err(|_| {
        format!("{url}: the response body is not UTF-8 text; http.download stores any content")
    })?;
    let body = if text.is_empty() {
        Value::Null
    } else if is_json {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    } else {
        Value::String(text)
    };
    run.logs.log(
        LogLevel::Debug,
        format!("{method} {url}: response code {code}"),
    );
    Ok(TaskOutcome::success(json!({
        "uri": url.to_string(),
        "code": code,
        "headers": headers,
        "body": body,
    })))
}

/// `application/json`, `application/problem+json`, with or without parameters.
fn is_json_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}
