//! Every setting that an environment variable or a flag can give: its key in `baton.yaml`, its
//! variable, its flag, and how its text is read. Both layers read text the same way, so
//! `BATON_CLAIM_LEASE=2` and `--claim-lease 2` mean the same thing.

use std::path::PathBuf;

use super::{BasicAuthConfig, Config, LogFormat, age, seconds};

pub struct Setting {
    /// The key in `baton.yaml`, dotted: `server.listen`.
    pub key: &'static str,
    /// The environment variable.
    pub env: &'static str,
    /// The command-line flag, without its dashes.
    pub flag: &'static str,
    /// Reads `text` into the configuration, or says why it cannot.
    pub apply: fn(&mut Config, &str) -> Result<(), String>,
}

impl Setting {
    pub fn by_flag(flag: &str) -> Option<&'static Setting> {
        SETTINGS.iter().find(|setting| setting.flag == flag)
    }
}

/// Every setting, in `baton.yaml` order.
pub static SETTINGS: &[Setting] = &[
    Setting {
        key: "server.listen",
        env: "BATON_LISTEN",
        flag: "listen",
        apply: |config, text| {
            config.server.listen = text
                .parse()
                .map_err(|_| format!("'{text}' is not an address such as 127.0.0.1:8080"))?;
            Ok(())
        },
    },
    Setting {
        key: "server.dataDir",
        env: "BATON_DATA_DIR",
        flag: "data-dir",
        apply: |config, text| {
            config.server.data_dir = PathBuf::from(text);
            Ok(())
        },
    },
    Setting {
        key: "server.flowsDir",
        env: "BATON_FLOWS_DIR",
        flag: "flows-dir",
        apply: |config, text| {
            config.server.flows_dir = Some(PathBuf::from(text));
            Ok(())
        },
    },
    Setting {
        key: "server.basicAuth",
        env: "BATON_BASIC_AUTH",
        flag: "basic-auth",
        apply: |config, text| {
            config.server.basic_auth = Some(basic_auth(text)?);
            Ok(())
        },
    },
    Setting {
        key: "database.url",
        env: "BATON_DATABASE_URL",
        flag: "database-url",
        apply: |config, text| {
            config.database.url = Some(text.to_owned());
            Ok(())
        },
    },
    Setting {
        key: "worker.token",
        env: "BATON_WORKER_TOKEN",
        flag: "token",
        apply: |config, text| {
            config.worker.token = Some(text.to_owned());
            Ok(())
        },
    },
    Setting {
        key: "worker.slots",
        env: "BATON_WORKER_SLOTS",
        flag: "slots",
        apply: |config, text| {
            let slots = text
                .trim()
                .parse()
                .map_err(|_| format!("'{text}' is not a whole number"))?;
            config.worker.slots = Some(slots);
            Ok(())
        },
    },
    Setting {
        key: "worker.group",
        env: "BATON_WORKER_GROUP",
        flag: "worker-group",
        apply: |config, text| {
            config.worker.group = Some(text.to_owned());
            Ok(())
        },
    },
    Setting {
        key: "worker.id",
        env: "BATON_WORKER_ID",
        flag: "worker-id",
        apply: |config, text| {
            config.worker.id = Some(text.to_owned());
            Ok(())
        },
    },
    Setting {
        key: "worker.executorUrl",
        env: "BATON_EXECUTOR_URL",
        flag: "executor",
        apply: |config, text| {
            config.worker.executor_url = Some(text.to_owned());
            Ok(())
        },
    },
    Setting {
        key: "worker.drainGrace",
        env: "BATON_WORKER_DRAIN_GRACE",
        flag: "drain-grace",
        apply: |config, text| {
            config.worker.drain_grace = seconds::parse(text)?;
            Ok(())
        },
    },
    Setting {
        key: "worker.duckdb",
        env: "BATON_DUCKDB",
        flag: "duckdb",
        apply: |config, text| {
            config.worker.duckdb = Some(PathBuf::from(text));
            Ok(())
        },
    },
    Setting {
        key: "worker.listen",
        env: "BATON_WORKER_LISTEN",
        flag: "worker-listen",
        apply: |config, text| {
            config.worker.listen = Some(
                text.parse()
                    .map_err(|_| format!("'{text}' is not an address such as 0.0.0.0:8080"))?,
            );
            Ok(())
        },
    },
    Setting {
        key: "storage.location",
        env: "BATON_STORAGE",
        flag: "storage",
        apply: |config, text| {
            config.storage.location = Some(text.to_owned());
            Ok(())
        },
    },
    Setting {
        key: "leases.claim",
        env: "BATON_CLAIM_LEASE",
        flag: "claim-lease",
        apply: |config, text| {
            config.leases.claim = seconds::parse(text)?;
            Ok(())
        },
    },
    Setting {
        key: "leases.worker",
        env: "BATON_WORKER_LEASE",
        flag: "worker-lease",
        apply: |config, text| {
            config.leases.worker = seconds::parse(text)?;
            Ok(())
        },
    },
    Setting {
        key: "docker.volumesEnabled",
        env: "BATON_DOCKER_VOLUMES_ENABLED",
        flag: "docker-volumes-enabled",
        apply: |config, text| {
            config.docker.volumes_enabled = boolean(text)?;
            Ok(())
        },
    },
    Setting {
        key: "log.level",
        env: "BATON_LOG",
        flag: "log-level",
        apply: |config, text| {
            config.log.level = text.to_owned();
            Ok(())
        },
    },
    Setting {
        key: "log.format",
        env: "BATON_LOG_FORMAT",
        flag: "log-format",
        apply: |config, text| {
            config.log.format = match text.trim().to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(format!("'{text}' is not a log format: use text or json")),
            };
            Ok(())
        },
    },
    Setting {
        key: "telemetry.otlpEndpoint",
        env: "OTEL_EXPORTER_OTLP_ENDPOINT",
        flag: "otlp-endpoint",
        apply: |config, text| {
            if !(text.starts_with("http://") || text.starts_with("https://")) {
                return Err(format!(
                    "'{text}' is not an OTLP endpoint such as http://otel-collector:4317"
                ));
            }
            config.telemetry.otlp_endpoint = Some(text.to_owned());
            Ok(())
        },
    },
    Setting {
        key: "telemetry.serviceName",
        env: "OTEL_SERVICE_NAME",
        flag: "service-name",
        apply: |config, text| {
            config.telemetry.service_name = Some(text.to_owned());
            Ok(())
        },
    },
    Setting {
        key: "retention.executions",
        env: "BATON_RETENTION_EXECUTIONS",
        flag: "retention-executions",
        apply: |config, text| {
            config.retention.executions = Some(age::parse(text)?);
            Ok(())
        },
    },
    Setting {
        key: "retention.logs",
        env: "BATON_RETENTION_LOGS",
        flag: "retention-logs",
        apply: |config, text| {
            config.retention.logs = Some(age::parse(text)?);
            Ok(())
        },
    },
    Setting {
        key: "retention.interval",
        env: "BATON_RETENTION_INTERVAL",
        flag: "retention-interval",
        apply: |config, text| {
            config.retention.interval = seconds::parse(text)?;
            Ok(())
        },
    },
];

/// `USER:PASSWORD`; the user ends at the first colon, both must be non-empty.
fn basic_auth(text: &str) -> Result<BasicAuthConfig, String> {
    match text.split_once(':') {
        Some((username, password)) if !username.is_empty() && !password.is_empty() => {
            Ok(BasicAuthConfig {
                username: username.to_owned(),
                password: password.to_owned(),
            })
        }
        _ => Err("expected USER:PASSWORD, both non-empty".to_owned()),
    }
}

/// `true`/`false` and the usual spellings of each, as clap read the variable before.
fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "y" => Ok(true),
        "false" | "no" | "off" | "0" | "n" => Ok(false),
        _ => Err(format!("'{text}' is not true or false")),
    }
}
