//! Reading the layers: role defaults < `baton.yaml` < `BATON_*` variables < flags.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use baton_core::diagnostic::Diagnostic;
use baton_core::yaml::{Node, NodeDeserializer, YamlLimits, key_text, parse_documents};
use serde::Deserialize;

use super::{Config, Role, SETTINGS, Setting};

/// The file name looked for in the working directory when no file is named.
pub const DEFAULT_FILE: &str = "baton.yaml";
/// The variable that names the file, like `--config`.
pub const CONFIG_ENV: &str = "BATON_CONFIG";

/// Where the layers come from.
pub struct Sources<'a> {
    /// `--config`: the file must exist. Without it, `BATON_CONFIG`, then `baton.yaml` in
    /// `dir` if it exists.
    pub file: Option<PathBuf>,
    /// Where `baton.yaml` is looked for: the working directory, as `.` so that messages name
    /// `./baton.yaml`.
    pub dir: PathBuf,
    /// The environment (only the settings' variables are read: `BATON_*`, `OTEL_*`).
    pub env: &'a HashMap<String, String>,
    /// The flags the user gave, as (flag without dashes, text).
    pub flags: Vec<(&'static str, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file has problems, each `file:line:column: message`.
    #[error("invalid configuration file:\n{}", .0.join("\n"))]
    File(Vec<String>),
    /// A variable or flag whose text does not read as its setting.
    #[error("{source_name} ({key}): {message}")]
    Setting {
        source_name: String,
        key: &'static str,
        message: String,
    },
    /// The layers together miss something the role needs, or hold a value it cannot use.
    #[error("{0}")]
    Invalid(String),
}

/// The effective configuration of `role`, and the file it read, if any.
pub fn load(role: Role, sources: Sources<'_>) -> Result<(Config, Option<PathBuf>), Error> {
    let mut config = Config::defaults(role);
    let file = config_file(&sources);
    if let Some(path) = &file {
        let source = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        config = apply_file(config, &source, &path.display().to_string())?;
    }
    for setting in SETTINGS {
        if let Some(text) = sources.env.get(setting.env).filter(|t| !t.is_empty()) {
            apply(&mut config, setting, setting.env.to_owned(), text)?;
        }
    }
    for (flag, text) in &sources.flags {
        let setting = Setting::by_flag(flag)
            .unwrap_or_else(|| panic!("--{flag} is not a configuration flag"));
        apply(&mut config, setting, format!("--{flag}"), text)?;
    }
    Ok((config, file))
}

fn apply(
    config: &mut Config,
    setting: &'static Setting,
    source_name: String,
    text: &str,
) -> Result<(), Error> {
    (setting.apply)(config, text).map_err(|message| Error::Setting {
        source_name,
        key: setting.key,
        message,
    })
}

/// `--config`, else `BATON_CONFIG`, else `./baton.yaml` when it exists.
fn config_file(sources: &Sources<'_>) -> Option<PathBuf> {
    if let Some(file) = &sources.file {
        return Some(file.clone());
    }
    if let Some(file) = sources.env.get(CONFIG_ENV).filter(|f| !f.is_empty()) {
        return Some(PathBuf::from(file));
    }
    let default = sources.dir.join(DEFAULT_FILE);
    default.is_file().then_some(default)
}

/// Lays the keys `source` gives over `config`. Every unknown key and every bad value is
/// reported at once, each at its line and column.
pub(crate) fn apply_file(config: Config, source: &str, name: &str) -> Result<Config, Error> {
    let located = |diagnostics: Vec<Diagnostic>| {
        Error::File(
            diagnostics
                .iter()
                .map(|d| d.display_in(name).to_string())
                .collect(),
        )
    };
    let documents = parse_documents(source, &YamlLimits::default())
        .map_err(|diagnostic| located(vec![diagnostic]))?;
    let root = match documents.as_slice() {
        [] => return Ok(config),
        [root] if root.is_null() => return Ok(config),
        [root] => root,
        [_, second, ..] => {
            return Err(located(vec![Diagnostic::error(
                second.position(),
                "a configuration file holds one YAML document",
            )]));
        }
    };
    let problems = RefCell::new(Vec::new());
    let read = Config::deserialize(NodeDeserializer::new(root, &problems));
    let mut problems = problems.into_inner();
    match read {
        Ok(from_file) if problems.is_empty() => overlay(config, &from_file, root),
        Ok(_) => {
            problems.sort_by_key(|d| d.position);
            Err(located(problems))
        }
        Err(error) => {
            problems.push(error.into_diagnostic(root.position()));
            problems.sort_by_key(|d| d.position);
            Err(located(problems))
        }
    }
}

/// Copies onto `config` the values of `from_file` whose keys the file wrote (a section, or a
/// key of a section): a key the file leaves out keeps the value of the layer below, which for
/// `local` is not the type's default (it listens on 127.0.0.1, not 0.0.0.0).
fn overlay(config: Config, from_file: &Config, root: &Node) -> Result<Config, Error> {
    let internal = |error: serde_json::Error| Error::Invalid(format!("configuration: {error}"));
    let mut merged = serde_json::to_value(config).map_err(internal)?;
    let given = serde_json::to_value(from_file).map_err(internal)?;
    for (section_key, section) in root.as_mapping().unwrap_or_default() {
        let section_key = key_text(section_key);
        let pointers: Vec<String> = match section.as_mapping() {
            Some(entries) => entries
                .iter()
                .map(|(key, _)| format!("/{section_key}/{}", key_text(key)))
                .collect(),
            None => vec![format!("/{section_key}")],
        };
        for pointer in pointers {
            if let (Some(slot), Some(value)) =
                (merged.pointer_mut(&pointer), given.pointer(&pointer))
            {
                *slot = value.clone();
            }
        }
    }
    serde_json::from_value(merged).map_err(internal)
}

impl Config {
    /// What `role` cannot run without, and values no role can use. The message names the key,
    /// its variable and its flag.
    pub fn validate(&self, role: Role) -> Result<(), Error> {
        let named = |key: &str| {
            let setting = SETTINGS.iter().find(|s| s.key == key);
            match setting {
                Some(s) => format!("{key} ({}, --{})", s.env, s.flag),
                None => key.to_owned(),
            }
        };
        let missing = |key: &str, why: &str| {
            Err(Error::Invalid(format!(
                "`baton server {}` needs {}: {why}",
                role.name(),
                named(key)
            )))
        };
        let needs_database = matches!(
            role,
            Role::Standalone | Role::Executor | Role::Scheduler | Role::Webserver
        );
        if needs_database && self.database.url.as_deref().is_none_or(str::is_empty) {
            return missing(
                "database.url",
                "the Postgres that holds flows and executions",
            );
        }
        let needs_token = matches!(role, Role::Standalone | Role::Executor | Role::Worker);
        if needs_token && self.worker.token.as_deref().is_none_or(str::is_empty) {
            return missing("worker.token", "workers authenticate with it");
        }
        if role == Role::Worker
            && self
                .worker
                .executor_url
                .as_deref()
                .is_none_or(str::is_empty)
        {
            return missing("worker.executorUrl", "the executor to connect to");
        }
        if self.worker.slots == Some(0) {
            return Err(Error::Invalid(format!(
                "{} must be at least 1",
                named("worker.slots")
            )));
        }
        for (key, lease) in [
            ("leases.claim", self.leases.claim),
            ("leases.worker", self.leases.worker),
            ("retention.interval", self.retention.interval),
        ] {
            if lease.is_zero() {
                return Err(Error::Invalid(format!(
                    "{} must be a positive number of seconds",
                    named(key)
                )));
            }
        }
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(Error::Invalid(format!(
                "{}: '{}' is not a log filter: {error}",
                named("log.level"),
                self.log.level
            )));
        }
        Ok(())
    }
}
