//! The client and the request of an HTTP task, from its rendered properties. Every refusal
//! names the property.

use std::time::Duration;

use baton_core::duration::IsoDuration;
use baton_core::flow::props::{HttpOptions, HttpProps};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Url};
use serde_json::Value;

use crate::RunContext;

/// Kestra's `readIdleTimeout` default.
const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
const MULTIPART: &str = "multipart/form-data";

/// How the response is judged, from `options`.
pub(super) struct Settings {
    pub allow_failed: bool,
    /// `options.allowedResponseCodes`: only these codes succeed.
    pub allowed_codes: Option<Vec<u16>>,
    /// `options.maxContentLength`, in bytes.
    pub max_content_length: Option<u64>,
}

/// A request ready to send, with how to judge its response.
pub(super) struct Prepared {
    pub request: RequestBuilder,
    pub method: Method,
    pub url: Url,
    pub settings: Settings,
}

pub(super) async fn prepare(props: &HttpProps, run: &RunContext) -> Result<Prepared, String> {
    let options = props.options.clone().unwrap_or_default();
    // Kestra encodes spaces itself and nothing else: the rest of the URI is the user's.
    let text = props.uri.trim().replace(' ', "%20");
    let url = Url::parse(&text).map_err(|e| format!("uri: '{}' is not a URL: {e}", props.uri))?;
    match url.scheme() {
        "http" => {}
        "https" if cfg!(feature = "https") => {}
        "https" => {
            return Err(format!(
                "uri: {url}: https is not supported by this build of Baton (build it with \
                 `--features https`)"
            ));
        }
        other => return Err(format!("uri: {url}: scheme '{other}' is not http or https")),
    }
    let method_text = props
        .method
        .as_deref()
        .unwrap_or("GET")
        .trim()
        .to_uppercase();
    let method = Method::from_bytes(method_text.as_bytes())
        .map_err(|_| format!("method: '{method_text}' is not an HTTP method"))?;

    let client = client(&options)?;
    let mut request = client.request(method.clone(), url.clone());
    let content_type = props
        .content_type
        .clone()
        .unwrap_or_else(|| "application/json".to_owned());
    let form = props.form_data.as_ref().filter(|form| !form.is_empty());
    if let Some(form) = form {
        if content_type.eq_ignore_ascii_case(MULTIPART) {
            request = request.multipart(multipart(form, run).await?);
        } else {
            let mut encoded = form_urlencoded::Serializer::new(String::new());
            for (key, value) in form {
                encoded.append_pair(key, &text_of(value));
            }
            request = request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(encoded.finish());
        }
    } else {
        let content_type = HeaderValue::from_str(&content_type)
            .map_err(|_| format!("contentType: '{content_type}' is not a header value"))?;
        request = request.header(CONTENT_TYPE, content_type);
        if let Some(body) = props.body.as_ref().filter(|b| !b.is_null()) {
            request = request.body(text_of(body));
        }
    }
    // Set last: a header the task names wins over the content type chosen above.
    request = request.headers(headers(props)?);
    request = authenticate(request, &options)?;
    Ok(Prepared {
        request,
        method,
        url,
        settings: Settings {
            allow_failed: options.allow_failed.or(props.allow_failed).unwrap_or(false),
            allowed_codes: options.allowed_response_codes.clone(),
            max_content_length: options.max_content_length,
        },
    })
}

fn client(options: &HttpOptions) -> Result<reqwest::Client, String> {
    let timeout = options.timeout.as_ref();
    let connect = timeout
        .and_then(|t| t.connect_timeout)
        .or(options.connect_timeout);
    let read = timeout
        .and_then(|t| t.read_idle_timeout)
        .or(options.read_idle_timeout)
        .or(options.read_timeout);
    let mut builder =
        reqwest::Client::builder().user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")));
    if let Some(connect) = connect {
        builder = builder.connect_timeout(positive(connect, "options.timeout.connectTimeout")?);
    }
    builder = builder.read_timeout(match read {
        Some(read) => positive(read, "options.timeout.readIdleTimeout")?,
        None => READ_IDLE_TIMEOUT,
    });
    if options.follow_redirects == Some(false) {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    if options.proxy.is_some() {
        return Err("options.proxy: proxies are not supported by Baton yet".to_owned());
    }
    builder = tls(builder, options)?;
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

#[cfg(feature = "https")]
fn tls(
    builder: reqwest::ClientBuilder,
    options: &HttpOptions,
) -> Result<reqwest::ClientBuilder, String> {
    // reqwest is built without a default crypto provider; ring is installed once per process
    // (a second call finds it installed).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let insecure = options
        .ssl
        .as_ref()
        .and_then(|ssl| ssl.get("insecureTrustAllCertificates"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(builder.tls_danger_accept_invalid_certs(insecure))
}

#[cfg(not(feature = "https"))]
fn tls(
    builder: reqwest::ClientBuilder,
    _options: &HttpOptions,
) -> Result<reqwest::ClientBuilder, String> {
    Ok(builder)
}

fn positive(duration: IsoDuration, property: &str) -> Result<Duration, String> {
    duration
        .to_std()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{property}: {duration} is not a positive duration"))
}

fn headers(props: &HttpProps) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in &props.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("headers: '{name}' is not a header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("headers: the value of '{name}' is not a header value"))?;
        map.append(header, value);
    }
    Ok(map)
}

/// `options.auth` (`BASIC` with `username`/`password`, `BEARER` with `token`), or the older
/// `options.basicAuthUser`/`basicAuthPassword`.
fn authenticate(request: RequestBuilder, options: &HttpOptions) -> Result<RequestBuilder, String> {
    if let Some(auth) = &options.auth {
        let field = |name: &str| auth.get(name).and_then(Value::as_str).map(str::to_owned);
        let kind = field("type").unwrap_or_default().to_uppercase();
        return match kind.as_str() {
            "BASIC" => {
                Ok(request.basic_auth(field("username").unwrap_or_default(), field("password")))
            }
            "BEARER" => match field("token") {
                Some(token) => Ok(request.bearer_auth(token)),
                None => Err("options.auth: type BEARER needs a token".to_owned()),
            },
            other => Err(format!(
                "options.auth: type '{other}' is not supported (BASIC or BEARER)"
            )),
        };
    }
    Ok(match &options.basic_auth_user {
        Some(user) => request.basic_auth(user, options.basic_auth_password.clone()),
        None => request,
    })
}

/// A body or form value as text: strings as they are, anything else as JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `formData` as `multipart/form-data`: a `kestra://` URI is sent as a file streamed from
/// internal storage, `{name, content}` as a file named `name`; anything else as text.
async fn multipart(
    form: &indexmap::IndexMap<String, Value>,
    run: &RunContext,
) -> Result<reqwest::multipart::Form, String> {
    let mut parts = reqwest::multipart::Form::new();
    for (key, value) in form {
        let file = match value {
            Value::String(text) if text.starts_with(baton_storage::SCHEME) => {
                Some((None, text.as_str()))
            }
            Value::Object(map) => match (map.get("name"), map.get("content")) {
                (Some(Value::String(name)), Some(Value::String(content))) => {
                    Some((Some(name.clone()), content.as_str()))
                }
                _ => None,
            },
            _ => None,
        };
        let part = match file {
            Some((name, uri)) => file_part(run, uri, name)
                .await
                .map_err(|e| format!("formData: '{key}': {e}"))?,
            None => reqwest::multipart::Part::text(text_of(value)),
        };
        parts = parts.part(key.clone(), part);
    }
    Ok(parts)
}

async fn file_part(
    run: &RunContext,
    uri: &str,
    name: Option<String>,
) -> Result<reqwest::multipart::Part, String> {
    let uri = run.readable_uri(uri)?;
    let download = run
        .storage()?
        .get_stream(&uri)
        .await
        .map_err(|e| e.to_string())?;
    let body = reqwest::Body::wrap_stream(download.chunks);
    let name = name.unwrap_or_else(|| uri.file_name().to_owned());
    Ok(reqwest::multipart::Part::stream_with_length(body, download.size).file_name(name))
}
