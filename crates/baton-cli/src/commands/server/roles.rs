//! From the configuration to the running role: a node (API, executor, scheduler, in-process
//! worker, as the role asks) or a worker.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::{Config, Role};

/// What the roles of `role` need from the configuration (validated already).
pub(super) fn node_options(
    role: Role,
    config: &Config,
    secrets: HashMap<String, String>,
) -> crate::node::NodeOptions {
    let store = match role {
        Role::Local => crate::node::StoreChoice::Sqlite(config.server.data_dir.join("baton.db")),
        _ => crate::node::StoreChoice::Postgres(config.database.url.clone().unwrap_or_default()),
    };
    let token = match (role, &config.worker.token) {
        (_, Some(token)) if !token.is_empty() => token.clone(),
        // Only the in-process worker connects, over loopback: a fresh token per start.
        _ => uuid::Uuid::now_v7().simple().to_string(),
    };
    let in_process_worker = matches!(role, Role::Local | Role::Standalone);
    crate::node::NodeOptions {
        store,
        listen: config.server.listen,
        executor: matches!(role, Role::Local | Role::Standalone | Role::Executor),
        webserver: matches!(role, Role::Local | Role::Standalone | Role::Webserver),
        scheduler: matches!(role, Role::Local | Role::Standalone | Role::Scheduler),
        worker_slots: if in_process_worker { config.slots() } else { 0 },
        token,
        work_dir: config.server.data_dir.join("work"),
        // The executor and the scheduler store no files; the API and workers do.
        storage: (!matches!(role, Role::Executor | Role::Scheduler))
            .then(|| config.storage_location()),
        flows_dir: config.server.flows_dir.clone().filter(|dir| dir.is_dir()),
        secrets,
        basic_auth: config
            .server
            .basic_auth
            .as_ref()
            .map(|auth| baton_webserver::BasicAuth {
                username: auth.username.clone(),
                password: auth.password.clone(),
            }),
        claim_lease: config.leases.claim,
        worker_lease: config.leases.worker,
        docker: docker_settings(config),
        duckdb: duckdb_binary(config),
        retention: crate::retention::RetentionOptions {
            executions: config.retention.executions,
            logs: config.retention.logs,
            interval: config.retention.interval,
            // An executor keeps no files of its own, but purges those of a shared storage
            // when one is configured.
            storage: match role {
                Role::Executor => config.storage.location.clone(),
                _ => Some(config.storage_location()),
            },
        },
    }
}

pub(super) fn node(
    runtime: &tokio::runtime::Runtime,
    options: crate::node::NodeOptions,
) -> anyhow::Result<ExitCode> {
    runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        crate::node::run(options, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}

pub(super) fn worker(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    worker_id: String,
    secrets: HashMap<String, String>,
) -> anyhow::Result<ExitCode> {
    let mut options = baton_worker::WorkerOptions::new(
        config.worker.executor_url.clone().unwrap_or_default(),
        config.worker.token.clone().unwrap_or_default(),
    );
    options.slots = config.slots();
    options.worker_group = config.worker.group.clone();
    options.worker_id = worker_id;
    options.drain_grace = config.worker.drain_grace;
    options.secrets = secrets;
    options.docker = docker_settings(config);
    options.duckdb = duckdb_binary(config);
    options.storage = config
        .storage
        .location
        .as_deref()
        .map(baton_storage::Storage::open)
        .transpose()
        .context("cannot open the internal storage")?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        let draining = crate::health::Draining::default();
        let (stopped_tx, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut server = None;
        if let Some(listen) = config.worker.listen {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            // The same line as the server roles print, for scripts and tests that wait for it.
            eprintln!("baton is listening on http://{}", listener.local_addr()?);
            let router = crate::health::router(
                crate::health::Readiness::Worker(options.status.clone()),
                &draining,
            )
            .merge(crate::metrics::router(crate::metrics::install()?));
            server = Some(tokio::spawn(baton_webserver::serve(
                listener,
                router,
                async move {
                    let _ = stopped.await;
                },
            )));
        }
        let shutdown = async move {
            shutdown.await;
            draining.start();
        };
        let result = baton_worker::run(options, shutdown).await;
        // The health port stays open while the worker drains, answering 503 to readiness.
        let _ = stopped_tx.send(());
        if let Some(server) = server {
            let _ = server.await;
        }
        result?;
        Ok(ExitCode::SUCCESS)
    })
}

pub(super) fn duckdb_binary(config: &Config) -> PathBuf {
    config
        .worker
        .duckdb
        .clone()
        .unwrap_or_else(|| PathBuf::from("duckdb"))
}

pub(super) fn docker_settings(config: &Config) -> baton_worker::DockerSettings {
    baton_worker::DockerSettings {
        host: None,
        volumes_enabled: config.docker.volumes_enabled,
    }
}

/// Kestra's convention: `SECRET_<NAME>` holds the base64 value of `secret('NAME')`.
pub(super) fn secrets(vars: impl Iterator<Item = (String, String)>) -> HashMap<String, String> {
    vars.filter_map(|(key, value)| Some((key.strip_prefix("SECRET_")?.to_owned(), value)))
        .collect()
}

/// Completes on the first SIGTERM or SIGINT.
pub(super) fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: draining"),
            _ = int.recv() => tracing::info!("SIGINT: draining"),
        }
    })
}
