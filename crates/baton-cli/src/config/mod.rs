//! Baton's server configuration: one typed [`Config`], read in layers, each overriding the one
//! before — built-in defaults (per role), then `baton.yaml`, then `BATON_*` environment
//! variables, then command-line flags.
//!
//! `docs/configuration.md` documents every key for users; [`settings`] lists, for each one, its
//! environment variable and flag. The loader takes the environment as a map, so tests give
//! their own; nothing here reads the process environment.

mod dump;
mod layers;
mod settings;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use dump::to_yaml;
pub use layers::{Sources, load};
pub use settings::{SETTINGS, Setting};

/// Which `baton server` role the configuration is for: it decides some defaults and which
/// keys are required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Local,
    Standalone,
    Executor,
    Scheduler,
    Webserver,
    Worker,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Standalone => "standalone",
            Self::Executor => "executor",
            Self::Scheduler => "scheduler",
            Self::Webserver => "webserver",
            Self::Worker => "worker",
        }
    }
}

/// The whole configuration. Every section and field has a default, so a `baton.yaml` holds
/// only what differs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub worker: WorkerConfig,
    pub leases: LeaseConfig,
    pub storage: StorageConfig,
    pub docker: DockerConfig,
    pub log: LogConfig,
    pub telemetry: TelemetryConfig,
    pub retention: RetentionConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerConfig {
    /// Where the API (REST and gRPC) and, on executors, the workers' gRPC listen.
    /// `127.0.0.1:8080` for `local`, `0.0.0.0:8080` for the other roles.
    pub listen: SocketAddr,
    /// Where `local` keeps its SQLite store, and where in-process workers create task working
    /// directories.
    pub data_dir: PathBuf,
    /// A folder of flow files deployed at start and kept deployed as they change. `flows` for
    /// `local` (used when the folder exists), none for the other roles.
    pub flows_dir: Option<PathBuf>,
    /// When set, the API (REST and gRPC) asks for these credentials (HTTP basic auth).
    pub basic_auth: Option<BasicAuthConfig>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuthConfig {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for BasicAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Internal storage: where files of executions (outputFiles, FILE inputs, downloads) live.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StorageConfig {
    /// A directory every process of a deployment shares (the webserver and every worker).
    /// `<dataDir>/storage` when not set, except on a `worker`, which then has no storage and
    /// fails the tasks that need files.
    pub location: Option<String>,
}

impl Config {
    /// The internal storage location for processes that default it under the data directory.
    pub fn storage_location(&self) -> String {
        self.storage
            .location
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("storage").display().to_string())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DatabaseConfig {
    /// Baton's Postgres (`postgres://user:password@host:5432/db`, or the JDBC form), for every
    /// role but `local` (always its embedded SQLite store) and `worker` (no database).
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkerConfig {
    /// The token workers present to executors; executors refuse any other. `local` makes a
    /// fresh one at each start (only its own worker connects).
    pub token: Option<String>,
    /// Task runs a worker (or the in-process worker) runs at once; one per CPU when not set.
    pub slots: Option<u32>,
    /// `worker` only: take task runs of this worker group only.
    pub group: Option<String>,
    /// `worker` only: the worker's id (default: hostname-pid-random).
    pub id: Option<String>,
    /// `worker` only: the executor's address, e.g. `http://executor:8080`.
    pub executor_url: Option<String>,
    /// `worker` only: how long running task runs may take to finish on SIGTERM before they
    /// are handed back to the executor.
    #[serde(with = "seconds")]
    pub drain_grace: Duration,
    /// The DuckDB CLI binary the DuckDB tasks run (PyPI's `duckdb-cli`); `duckdb` on the PATH
    /// when not set.
    pub duckdb: Option<PathBuf>,
    /// `worker` only: where the worker serves `/health/*` and `/metrics`. None by default, so
    /// several workers share a host without clashing; the container image sets
    /// `0.0.0.0:8080`.
    pub listen: Option<SocketAddr>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            token: None,
            slots: None,
            group: None,
            id: None,
            executor_url: None,
            drain_grace: Duration::from_secs(60),
            duckdb: None,
            listen: None,
        }
    }
}

/// Traces exported with OpenTelemetry. The keys take the standard `OTEL_*` variables, so
/// collectors' usual setup works unchanged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TelemetryConfig {
    /// An OTLP/gRPC collector, e.g. `http://otel-collector:4317`; traces are exported only
    /// when it is set.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of exported spans; `baton-<role>` when not set.
    pub service_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LeaseConfig {
    /// How long an executor's claim on a queue message lasts unless renewed: how long its work
    /// waits before another executor takes it over when it dies.
    #[serde(with = "seconds")]
    pub claim: Duration,
    /// How long a worker's hold on a task run lasts without a heartbeat: how long a vanished
    /// worker's task runs wait before going to another worker.
    #[serde(with = "seconds")]
    pub worker: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            claim: Duration::from_secs(30),
            worker: Duration::from_secs(30),
        }
    }
}

/// The Docker task runner of workers (and of the in-process worker of `local` and
/// `standalone`). The engine is `DOCKER_HOST`, else the local socket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DockerConfig {
    /// Let script tasks bind-mount host paths (`volumes`, Kestra's `volume-enabled`). Off: a
    /// mount gives a flow's author the worker host's files.
    pub volumes_enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogConfig {
    /// A `tracing` filter: a level (`info`) or per-module directives
    /// (`info,baton_executor=debug`).
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event (coloured on a terminal).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Config {
    /// The built-in defaults of `role`.
    pub fn defaults(role: Role) -> Self {
        let mut config = Self::default();
        if role == Role::Local {
            config.server.listen = SocketAddr::from(([127, 0, 0, 1], 8080));
            config.server.flows_dir = Some(PathBuf::from("flows"));
        }
        config
    }

    /// In-process or worker slots: as configured, else one per CPU.
    pub fn slots(&self) -> u32 {
        self.worker.slots.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
        })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            data_dir: PathBuf::from(".baton"),
            flows_dir: None,
            basic_auth: None,
        }
    }
}

/// How long ended executions and logs are kept; the roles with a store (`local`,
/// `standalone`, `executor`) purge what is older every `interval`. Off by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RetentionConfig {
    /// Ended executions older than this (by their end) are deleted with their logs and files.
    #[serde(with = "age")]
    pub executions: Option<Duration>,
    /// Log lines older than this are deleted; their executions stay.
    #[serde(with = "age")]
    pub logs: Option<Duration>,
    /// How often the retention job runs.
    #[serde(with = "seconds")]
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            executions: None,
            logs: None,
            interval: Duration::from_secs(60 * 60),
        }
    }
}

/// Ages such as `30d`, `12h`, `90m`, `45s`, `2w`, an ISO-8601 duration (`P30D`) or a number of
/// seconds; absent means no limit.
pub(crate) mod age {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(age) => serializer.serialize_str(&format!("{}s", age.as_secs())),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            Number(f64),
            Text(String),
        }
        match Option::<Text>::deserialize(deserializer)? {
            None => Ok(None),
            Some(Text::Number(number)) => Duration::try_from_secs_f64(number)
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("{number} is not an age"))),
            Some(Text::Text(text)) => parse(&text).map(Some).map_err(serde::de::Error::custom),
        }
    }

    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let unit = |suffix: char| match suffix {
            's' => Some(1),
            'm' => Some(60),
            'h' => Some(60 * 60),
            'd' => Some(24 * 60 * 60),
            'w' => Some(7 * 24 * 60 * 60),
            _ => None,
        };
        if let Some(last) = text.chars().last()
            && let Some(seconds) = unit(last)
            && let Ok(count) = text[..text.len() - 1].parse::<u64>()
        {
            return Ok(Duration::from_secs(count.saturating_mul(seconds)));
        }
        super::seconds::parse(text)
            .map_err(|_| format!("'{text}' is not an age such as 30d, 12h, 90m or P30D"))
    }
}

/// Durations as a number of seconds (`30`, `0.5`) or ISO-8601 (`PT30S`, as flows write them).
pub(crate) mod seconds {
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(SecondsVisitor)
    }

    /// Text from an environment variable or a flag, read the same way.
    pub fn parse(text: &str) -> Result<Duration, String> {
        match text.trim().parse::<f64>() {
            Ok(number) => from_f64(number),
            Err(_) => text
                .trim()
                .parse::<baton_core::duration::IsoDuration>()
                .map_err(|error| error.to_string())?
                .to_std()
                .ok_or_else(|| format!("'{text}' is negative")),
        }
    }

    fn from_f64(number: f64) -> Result<Duration, String> {
        Duration::try_from_secs_f64(number)
            .map_err(|_| format!("{number} is not a non-negative number of seconds"))
    }

    struct SecondsVisitor;

    impl Visitor<'_> for SecondsVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a number of seconds or an ISO-8601 duration such as PT30S")
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(value))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
            u64::try_from(value)
                .map(Duration::from_secs)
                .map_err(|_| E::custom(format!("{value} is negative")))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
            from_f64(value).map_err(E::custom)
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
            parse(value).map_err(E::custom)
        }
    }
}
