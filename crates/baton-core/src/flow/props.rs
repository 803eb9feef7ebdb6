//! Typed properties of each task kind, named as Kestra names them. String properties may hold
//! templates; they are rendered by the worker just before the task runs.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::property::{OneOrMany, Property};
use super::task::LogLevel;
use crate::duration::IsoDuration;
use crate::inputs::InputSpec;

type Json = serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogProps {
    pub message: OneOrMany,
    pub level: Option<LogLevel>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnProps {
    pub format: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SleepProps {
    pub duration: Property<IsoDuration>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubflowProps {
    /// The child flow's namespace and id; templates, rendered when the task starts.
    pub namespace: String,
    pub flow_id: String,
    /// The latest revision when `None`.
    pub revision: Option<u32>,
    /// Rendered in the parent's context, then coerced by the child flow's input declarations.
    #[serde(default)]
    pub inputs: IndexMap<String, Json>,
    /// A map or a list of `{key, value}`, rendered in the parent's context.
    pub labels: Option<Json>,
    /// Wait for the child to end and take its state; otherwise succeed once it is created.
    #[serde(default = "yes")]
    pub wait: bool,
    /// When waiting: a FAILED, KILLED or WARNING child gives the task its state; otherwise the
    /// task succeeds whatever the child's state.
    #[serde(default = "yes")]
    pub transmit_failed: bool,
    /// Copy the parent execution's labels onto the child (the child flow's own keys win).
    #[serde(default)]
    pub inherit_labels: bool,
    /// Deprecated since Kestra 0.15 (flow `outputs` replace it): values rendered in the child's
    /// context when it ends and returned as `outputs.<task>.outputs.<name>`. Used only when the
    /// child flow declares no `outputs`.
    #[serde(default)]
    pub outputs: IndexMap<String, Json>,
    /// Create the child now but start it at this date (ISO-8601, a template).
    pub schedule_date: Option<String>,
    pub restart_behavior: Option<SubflowRestartBehavior>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubflowRestartBehavior {
    NewExecution,
    RetryFailed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseProps {
    /// Resume by itself after this long (Kestra 1.x; `delay` is its older name).
    #[serde(alias = "delay")]
    pub pause_duration: Option<Property<IsoDuration>>,
    /// Deprecated in Kestra: fail when not resumed within this long.
    pub timeout: Option<Property<IsoDuration>>,
    /// What happens when `pauseDuration` elapses.
    pub behavior: Option<PauseBehavior>,
    /// Inputs asked for when a person resumes the execution.
    #[serde(default)]
    pub on_resume: Vec<InputSpec>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PauseBehavior {
    Resume,
    Warn,
    Fail,
    Cancel,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailProps {
    /// Fail only when this renders truthy; always when absent.
    pub condition: Option<String>,
    #[serde(default = "task_failure")]
    pub error_message: String,
}

fn task_failure() -> String {
    "Task failure".to_owned()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelsProps {
    /// A map `key: value`, or a list of `{key, value}`, or an expression rendering to either.
    pub labels: Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputValuesProps {
    pub values: IndexMap<String, Json>,
}

/// `http.download` and `http.request` share their shape; Download stores the body as a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpProps {
    pub uri: String,
    pub method: Option<String>,
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    pub body: Option<Json>,
    pub content_type: Option<String>,
    pub form_data: Option<IndexMap<String, Json>>,
    pub options: Option<HttpOptions>,
    /// Download: fail when the response has no body (Kestra's default).
    pub fail_on_empty_response: Option<bool>,
    /// Request: keep non-2xx responses as outputs instead of failing (deprecated in favour of
    /// `options.allowFailed`).
    pub allow_failed: Option<bool>,
    pub encrypt_body: Option<bool>,
    /// Kestra's older name for `options.ssl`.
    pub ssl_options: Option<Json>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpOptions {
    /// Kestra 1.x's timeouts; the flat `connectTimeout`/`readTimeout` below are older names.
    pub timeout: Option<HttpTimeout>,
    pub connect_timeout: Option<IsoDuration>,
    pub read_timeout: Option<IsoDuration>,
    pub read_idle_timeout: Option<IsoDuration>,
    pub connection_pool_idle_timeout: Option<IsoDuration>,
    /// Largest accepted response body, in bytes.
    pub max_content_length: Option<u64>,
    pub follow_redirects: Option<bool>,
    pub allow_failed: Option<bool>,
    pub allowed_response_codes: Option<Vec<u16>>,
    pub default_charset: Option<String>,
    pub basic_auth_user: Option<String>,
    pub basic_auth_password: Option<String>,
    pub auth: Option<Json>,
    pub proxy: Option<Json>,
    pub ssl: Option<Json>,
    /// Which parts of requests and responses to log (`REQUEST_HEADERS`, `RESPONSE_BODY`…).
    pub logs: Option<Vec<String>>,
    /// Deprecated in Kestra; superseded by `logs`.
    pub log_level: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpTimeout {
    pub connect_timeout: Option<IsoDuration>,
    /// How long a read may wait for data (Kestra's default: five minutes).
    pub read_idle_timeout: Option<IsoDuration>,
}

/// Properties shared by every script task (shell and Python, Script and Commands).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptBase {
    pub container_image: Option<String>,
    pub task_runner: Option<TaskRunner>,
    #[serde(default)]
    pub before_commands: Vec<String>,
    pub interpreter: Option<Vec<String>>,
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// File name in the working directory → inline content or a `kestra://` URI. May also be a
    /// JSON string or expression rendering to such a map.
    pub input_files: Option<Json>,
    /// Glob patterns, relative to the working directory, of files kept after the run.
    #[serde(default)]
    pub output_files: Vec<String>,
    pub namespace_files: Option<NamespaceFiles>,
    pub warning_on_std_err: Option<bool>,
    pub fail_fast: Option<bool>,
    #[serde(rename = "targetOS")]
    pub target_os: Option<String>,
    pub output_directory: Option<bool>,
    /// Deprecated Kestra form of the Docker runner's options.
    pub docker: Option<DockerRunner>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceFiles {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub if_exists: Option<String>,
    pub folder_per_namespace: Option<bool>,
    pub namespaces: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandsProps {
    pub commands: OneOrMany,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptProps {
    pub script: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PythonScriptProps {
    pub script: String,
    #[serde(default)]
    pub dependencies: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PythonCommandsProps {
    pub commands: OneOrMany,
    #[serde(default)]
    pub dependencies: Vec<String>,
}

/// Where a script task runs. Kestra's default for script tasks is Docker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TaskRunner {
    #[serde(rename = "io.kestra.plugin.core.runner.Process", alias = "process")]
    Process {},
    #[serde(
        rename = "io.kestra.plugin.scripts.runner.docker.Docker",
        alias = "docker"
    )]
    Docker(DockerRunner),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DockerRunner {
    /// Falls back to the task's `containerImage`.
    pub image: Option<String>,
    pub host: Option<String>,
    pub config: Option<Json>,
    pub credentials: Option<DockerCredentials>,
    pub user: Option<String>,
    pub entry_point: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub network_mode: Option<String>,
    /// Host bind mounts; refused unless the worker's configuration allows them.
    pub volumes: Option<Vec<String>>,
    pub pull_policy: Option<PullPolicy>,
    pub cpu: Option<DockerCpu>,
    pub memory: Option<DockerMemory>,
    pub shm_size: Option<String>,
    pub privileged: Option<bool>,
    pub device_requests: Option<Json>,
    pub file_handling_strategy: Option<String>,
    pub delete: Option<bool>,
    pub wait: Option<bool>,
    pub kill: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PullPolicy {
    IfNotPresent,
    Always,
    Never,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DockerCredentials {
    pub registry: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub registry_token: Option<String>,
    pub identity_token: Option<String>,
    pub auth: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DockerCpu {
    pub cpus: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DockerMemory {
    /// Docker's memory strings: `512m`, `2g`.
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_swappiness: Option<String>,
    pub memory_reservation: Option<String>,
    pub kernel_memory: Option<String>,
    pub oom_kill_disable: Option<bool>,
}

/// Connection settings of the user's database, usually set once in `pluginDefaults`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JdbcConnection {
    /// `jdbc:postgresql://host:port/db` or `postgres://…`.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub time_zone_id: Option<String>,
    pub ssl: Option<bool>,
    pub ssl_mode: Option<String>,
    pub ssl_root_cert: Option<String>,
    pub ssl_cert: Option<String>,
    pub ssl_key: Option<String>,
    pub ssl_key_password: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FetchType {
    Fetch,
    FetchOne,
    Store,
    #[default]
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueriesProps {
    pub sql: String,
    /// Named `:param` bindings.
    pub parameters: Option<IndexMap<String, Json>>,
    #[serde(default)]
    pub fetch_type: FetchType,
    pub fetch_size: Option<u32>,
    /// Queries: run every statement in one transaction (Kestra's default).
    pub transaction: Option<bool>,
    #[serde(rename = "afterSQL")]
    pub after_sql: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CopyFormat {
    Text,
    Csv,
    Binary,
}

/// COPY options shared by `postgres.copy_in` and `postgres.copy_out`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyOptions {
    pub format: Option<CopyFormat>,
    pub header: Option<bool>,
    pub delimiter: Option<String>,
    pub quote: Option<String>,
    pub escape: Option<String>,
    pub columns: Option<Vec<String>>,
    pub null_string: Option<String>,
    pub encoding: Option<String>,
    pub oids: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyInProps {
    /// A `kestra://` URI of the file to load.
    pub from: String,
    pub table: String,
    pub force_not_null: Option<Vec<String>>,
    pub force_null: Option<Vec<String>>,
    pub freeze: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyOutProps {
    /// A query to export; `table` exports a whole table instead.
    pub sql: Option<String>,
    pub table: Option<String>,
    pub force_quote: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuckdbProps {
    pub sql: String,
    /// `jdbc:duckdb:` URL; in memory when absent.
    pub url: Option<String>,
    /// A `kestra://` URI of a database file to open.
    pub database_uri: Option<String>,
    pub parameters: Option<IndexMap<String, Json>>,
    #[serde(default)]
    pub fetch_type: FetchType,
    pub fetch_size: Option<u32>,
    pub input_files: Option<Json>,
    #[serde(default)]
    pub output_files: Vec<String>,
    pub time_zone_id: Option<String>,
    pub output_db_file: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvSetProps {
    pub key: String,
    pub value: Json,
    pub namespace: Option<String>,
    pub kv_type: Option<KvType>,
    #[serde(default = "yes")]
    pub overwrite: bool,
    pub ttl: Option<Property<IsoDuration>>,
    pub kv_description: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KvType {
    String,
    Number,
    Boolean,
    Datetime,
    Date,
    Duration,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvKeyProps {
    pub key: String,
    pub namespace: Option<String>,
    #[serde(default)]
    pub error_on_missing: bool,
}

/// Files of a `WorkingDirectory` task, shared by its children.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkingFiles {
    pub input_files: Option<Json>,
    #[serde(default)]
    pub output_files: Vec<String>,
    pub namespace_files: Option<NamespaceFiles>,
}

fn yes() -> bool {
    true
}
