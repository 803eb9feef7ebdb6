//! The HTTP client of the client commands: one `reqwest` client, the server's base URL and the
//! user's credentials, and the API's error body turned into an [`Error`] a command can print.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// How long a client waits for a TCP connection before saying the server is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one ordinary request (not a log stream) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the server is and who the user is; global flags of `baton`.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// The Baton server the client commands talk to.
    #[arg(
        long,
        global = true,
        env = "BATON_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// Credentials sent as HTTP basic auth, USER:PASSWORD (prefer the environment variable).
    #[arg(long, global = true, env = "BATON_USER", hide_env_values = true)]
    pub user: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach Baton at {server}: is it running? (start it with: baton server local)")]
    Refused { server: String },
    /// Any other failure to connect: DNS, a timeout, a TLS handshake; `cause` says which.
    #[error("cannot reach Baton at {server}: {cause}")]
    Unreachable { server: String, cause: String },
    #[error(
        "{server}: https is not supported by this build of baton; use http:// (TLS ending at a \
         proxy) or build baton with `--features https`"
    )]
    HttpsUnsupported { server: String },
    #[error("invalid server URL {server:?}: expected http://host:port")]
    BadServer { server: String },
    /// The server answered with an error status; `message` is the API's own.
    #[error("{message}")]
    Api {
        status: StatusCode,
        message: String,
        details: Vec<Detail>,
    },
    #[error("talking to Baton at {server}: {source}")]
    Http {
        server: String,
        source: reqwest::Error,
    },
}

impl Error {
    /// 1 when the server answered with an error (it refused the request, or failed doing it),
    /// 2 when it could not be reached or the command was not usable (a bad URL).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Api { .. } => ExitCode::FAILURE,
            _ => ExitCode::from(2),
        }
    }
}

/// One position-carrying problem of an API error: `{line, column, message, severity}`.
#[derive(Debug, Deserialize)]
pub struct Detail {
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
    pub severity: Option<String>,
}

/// The API's error body.
#[derive(Deserialize)]
struct ErrorBody {
    message: String,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Clone)]
pub struct Client {
    /// The base URL without a trailing slash, as the user gave it (for messages).
    server: String,
    http: reqwest::Client,
    /// `(user, password)` for basic auth.
    credentials: Option<(String, Option<String>)>,
}

impl Client {
    pub fn new(args: &ServerArgs) -> Result<Self, Error> {
        let server = args.server.trim_end_matches('/').to_owned();
        let scheme_ok = server.starts_with("http://") || server.starts_with("https://");
        if !scheme_ok || reqwest::Url::parse(&server).is_err() {
            return Err(Error::BadServer { server });
        }
        if server.starts_with("https://") && !cfg!(feature = "https") {
            return Err(Error::HttpsUnsupported { server });
        }
        #[cfg(feature = "https")]
        {
            // reqwest is built without a default crypto provider (its default is aws-lc-rs);
            // ring is installed once per process. A second call finds it installed already.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| Error::Http {
                server: server.clone(),
                source,
            })?;
        let credentials = args.user.as_ref().map(|user| match user.split_once(':') {
            Some((name, password)) => (name.to_owned(), Some(password.to_owned())),
            None => (user.clone(), None),
        });
        Ok(Self {
            server,
            http,
            credentials,
        })
    }

    /// A request to `path` (starting with `/api/v1`), with credentials.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.server));
        match &self.credentials {
            Some((user, password)) => builder.basic_auth(user, password.as_deref()),
            None => builder,
        }
    }

    /// Sends a request that must answer quickly and decodes its JSON answer.
    pub async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, Error> {
        let response = self.send(request.timeout(REQUEST_TIMEOUT)).await?;
        response
            .json()
            .await
            .map_err(|source| self.http_error(source))
    }

    /// Sends a request and turns an error status into [`Error::Api`]; the body of a success
    /// is left to the caller (a log stream is read as it comes).
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, Error> {
        let response = request
            .send()
            .await
            .map_err(|source| self.http_error(source))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let (message, details) = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => (body.message, body.details),
            Err(_) if text.trim().is_empty() => (format!("the server answered {status}"), vec![]),
            Err(_) => (
                format!("the server answered {status}: {}", text.trim()),
                vec![],
            ),
        };
        let message = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                format!("{message} (check --user or BATON_USER)")
            }
            _ => message,
        };
        Err(Error::Api {
            status,
            message,
            details,
        })
    }

    pub fn http_error(&self, source: reqwest::Error) -> Error {
        if source.is_connect() {
            // The innermost cause is the one worth showing ("connection refused", a TLS or
            // DNS failure); reqwest's own message is only "error sending request".
            let mut cause: &dyn std::error::Error = &source;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            let refused = cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
            if refused {
                Error::Refused {
                    server: self.server.clone(),
                }
            } else {
                Error::Unreachable {
                    server: self.server.clone(),
                    cause: cause.to_string(),
                }
            }
        } else {
            Error::Http {
                server: self.server.clone(),
                source,
            }
        }
    }
}

/// Runs a client command on a small runtime of its own and maps its error to an exit code,
/// printing the message (and any positioned details) on stderr.
pub fn block_on(command: impl Future<Output = Result<ExitCode, Error>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            if let Error::Api { details, .. } = &error {
                for detail in details {
                    eprintln!("  {}", detail.display(None));
                }
            }
            error.exit_code()
        }
    }
}

impl Detail {
    /// `file:line:column: message` (or `line:column: message` without a file), with the line
    /// shifted by `line_offset` when the flow was sent from the middle of a file.
    pub fn display(&self, file: Option<(&str, u32)>) -> String {
        let mut text = String::new();
        if let Some((name, _)) = file {
            text.push_str(name);
            text.push(':');
        }
        if let (Some(line), Some(column)) = (self.line, self.column) {
            let offset = file.map_or(0, |(_, offset)| offset);
            text.push_str(&format!("{}:{column}: ", line + offset));
        }
        if self.severity.as_deref() == Some("warning") {
            text.push_str("warning: ");
        }
        text.push_str(&self.message);
        text
    }
}

/// Prints one line on stdout. A reader that went away (`baton execution logs ID | head`) ends
/// the command quietly instead of panicking as `println!` does.
pub fn write_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// `println!` for command output, through [`write_line`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::client::write_line(format_args!($($arg)*))
    };
}
pub(crate) use out;
