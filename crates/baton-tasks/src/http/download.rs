//! `http.download`: the response body streamed into internal storage, in chunks as they
//! arrive (never whole in memory), under the task run's folder. The file is named by the
//! response's `Content-Disposition`, else by the URI's last path segment. Outputs `uri`, `code`,
//! `length`, `headers`.

use baton_core::flow::props::HttpProps;
use baton_core::flow::task::LogLevel;
use futures_util::StreamExt;
use reqwest::header::CONTENT_DISPOSITION;
use serde_json::json;

use super::{check_status, client, describe, headers_output};
use crate::{RunContext, TaskOutcome};

pub(super) async fn run(props: &HttpProps, run: &RunContext) -> Result<TaskOutcome, String> {
    let prepared = client::prepare(props, run).await?;
    let settings = prepared.settings;
    let (method, url) = (prepared.method, prepared.url);
    // Where the file goes is checked before anything is sent.
    let storage = run.storage()?.clone();
    let (files, task_id, task_run_id) = run.task_run_files()?;
    let response = prepared
        .request
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {}", describe(&e)))?;
    let response = check_status(response, &settings).await?;
    let code = response.status().as_u16();
    let headers = headers_output(response.headers());
    let limit = settings.max_content_length;
    if let (Some(limit), Some(length)) = (limit, response.content_length())
        && length > limit
    {
        return Err(too_large(&url, limit));
    }
    let name = response
        .headers()
        .get(CONTENT_DISPOSITION)
        .and_then(|value| value.to_str().ok())
        .and_then(disposition_file_name)
        .or_else(|| url_file_name(&url))
        .unwrap_or_else(|| "download".to_owned());
    let uri = files
        .task_file(&task_id, &task_run_id, &name)
        .map_err(|e| e.to_string())?;

    let mut chunks = response.bytes_stream();
    let first = match chunks.next().await {
        Some(Ok(chunk)) => Some(chunk),
        Some(Err(error)) => return Err(format!("{method} {url}: {}", describe(&error))),
        None => None,
    };
    let length = match first {
        None => {
            if props.fail_on_empty_response.unwrap_or(true) && !settings.allow_failed {
                return Err(format!(
                    "{method} {url}: No response from server (empty body)"
                ));
            }
            run.logs
                .log(LogLevel::Warn, format!("File '{url}' is empty"));
            storage
                .put_bytes(&uri, bytes::Bytes::new())
                .await
                .map_err(|e| e.to_string())?;
            0
        }
        Some(first) => {
            let mut seen = 0u64;
            let stream = futures_util::stream::iter([Ok(first)])
                .chain(chunks)
                .map(|chunk| {
                    let chunk = chunk.map_err(|e| describe(&e))?;
                    seen += chunk.len() as u64;
                    match limit {
                        Some(limit) if seen > limit => Err(too_large(&url, limit)),
                        _ => Ok(chunk),
                    }
                });
            // A failed stream stores nothing; the error names the URI and says why.
            storage
                .put_stream(&uri, stream)
                .await
                .map_err(|e| e.to_string())?
        }
    };
    run.logs.log(
        LogLevel::Debug,
        format!("File '{url}' downloaded with size '{length}' to {uri}"),
    );
    Ok(TaskOutcome::success(json!({
        "uri": uri.to_string(),
        "code": code,
        "length": length,
        "headers": headers,
    })))
}

fn too_large(url: &reqwest::Url, limit: u64) -> String {
    format!("{url}: the response is larger than options.maxContentLength ({limit} bytes)")
}

/// The file name of `attachment; filename="a.csv"` (or RFC 5987's `filename*=UTF-8''a.csv`),
/// reduced to a safe last path segment.
fn disposition_file_name(header: &str) -> Option<String> {
    let mut found = None;
    for part in header.split(';').map(str::trim) {
        if let Some(value) = part.strip_prefix("filename*=") {
            // charset'language'name, percent-encoded.
            let encoded = value.rsplit('\'').next().unwrap_or(value);
            found = Some(
                percent_encoding::percent_decode_str(encoded)
                    .decode_utf8_lossy()
                    .into_owned(),
            );
        } else if let Some(value) = part.strip_prefix("filename=")
            && found.is_none()
        {
            found = Some(value.trim_matches('"').to_owned());
        }
    }
    found.and_then(|name| safe_name(&name))
}

/// The URI's last path segment, decoded, when it names something.
fn url_file_name(url: &reqwest::Url) -> Option<String> {
    let segment = url.path_segments()?.rfind(|s| !s.is_empty())?;
    safe_name(&percent_encoding::percent_decode_str(segment).decode_utf8_lossy())
}

/// One path segment that storage accepts: the part after the last `/` or `\`, with characters
/// other than letters, digits, `.`, `-` and `_` replaced by `_`.
fn safe_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let meaningful = cleaned.chars().any(|c| c != '.' && c != '_');
    meaningful.then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_header_then_the_url() {
        assert_eq!(
            disposition_file_name(r#"attachment; filename="report 1.csv""#).as_deref(),
            Some("report_1.csv")
        );
        assert_eq!(
            disposition_file_name("attachment; filename*=UTF-8''na%C3%AFve.txt").as_deref(),
            Some("na_ve.txt")
        );
        assert_eq!(
            disposition_file_name(r#"attachment; filename="../../etc/passwd""#).as_deref(),
            Some("passwd")
        );
        assert_eq!(disposition_file_name("inline"), None);
        assert_eq!(disposition_file_name(r#"attachment; filename="..""#), None);
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(
            url_file_name(&url("http://h/data/yellow_2021-01.csv.gz?x=1")).as_deref(),
            Some("yellow_2021-01.csv.gz")
        );
        assert_eq!(url_file_name(&url("http://h/a/b/")).as_deref(), Some("b"));
        assert_eq!(url_file_name(&url("http://h/")), None);
    }
}
