//! The Docker task runner (`io.kestra.plugin.scripts.runner.docker.Docker`): runs a script
//! task's command in a throwaway container through the Engine API (bollard), over the local
//! socket or `DOCKER_HOST`.
//!
//! Files move through the Engine API only: the task's host working directory is uploaded into
//! the container as a tar before it starts and downloaded back after it exits, at the same path,
//! so `{{ workingDir }}` means the same on both runners and a worker that itself runs in a
//! container needs nothing but the engine's socket.
//!
//! Every container carries `io.baton.*` labels naming its task run and its owner (worker id,
//! host, pid, process instance). It is removed when its run ends — success, failure, kill,
//! timeout or worker drain — and [`sweep_orphans`] removes the ones a dead worker left behind.

mod archive;
mod container;
mod copy;
mod inline;
mod lines;
mod removal;
pub(crate) mod spec;
mod sweep;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bollard::Docker;
use tokio::sync::OnceCell;

pub(crate) use container::{Container, run};
pub use sweep::sweep_orphans;

/// Label marking a container as Baton's; its value is always `true`.
pub const LABEL_MANAGED: &str = "io.baton.managed";
/// Label holding the id of the task run a container belongs to.
pub const LABEL_TASK_RUN: &str = "io.baton.task-run-id";
const LABEL_EXECUTION: &str = "io.baton.execution-id";
const LABEL_NAMESPACE: &str = "io.baton.namespace";
const LABEL_FLOW: &str = "io.baton.flow-id";
const LABEL_TASK: &str = "io.baton.task-id";
/// Labels naming the owner: the worker id, its host name, its pid and the process's instance.
pub const LABEL_WORKER: &str = "io.baton.worker-id";
const LABEL_HOST: &str = "io.baton.host";
const LABEL_PID: &str = "io.baton.pid";
const LABEL_INSTANCE: &str = "io.baton.instance";

/// The worker's Docker configuration.
#[derive(Clone, Debug, Default)]
pub struct DockerSettings {
    /// The engine's address (`unix:///var/run/docker.sock`, `tcp://host:2375`). `None` uses
    /// bollard's defaults: `DOCKER_HOST`, else the local socket.
    pub host: Option<String>,
    /// Whether tasks may bind-mount host paths with `volumes` (Kestra's `volume-enabled`
    /// plugin setting). Off by default: a mount gives a flow's author the worker's files.
    pub volumes_enabled: bool,
}

/// Who owns the containers this process creates; written into their labels.
#[derive(Clone, Debug)]
pub struct Owner {
    pub worker_id: String,
    pub host: String,
    pub pid: u32,
    /// Random per process: tells this process's containers from those of an earlier process
    /// that had the same pid (a worker restarted in its own container is pid 1 again).
    pub instance: String,
}

impl Owner {
    /// This process, running as worker `worker_id`.
    pub fn this_process(worker_id: impl Into<String>) -> Self {
        static INSTANCE: OnceLock<String> = OnceLock::new();
        let instance = INSTANCE.get_or_init(|| uuid::Uuid::now_v7().simple().to_string());
        Owner {
            worker_id: worker_id.into(),
            host: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default(),
            pid: std::process::id(),
            instance: instance.clone(),
        }
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (LABEL_WORKER.to_owned(), self.worker_id.clone()),
            (LABEL_HOST.to_owned(), self.host.clone()),
            (LABEL_PID.to_owned(), self.pid.to_string()),
            (LABEL_INSTANCE.to_owned(), self.instance.clone()),
        ])
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot reach the Docker engine at {host}: {reason} (mount the engine's socket into the \
         worker, set DOCKER_HOST, or use taskRunner type io.kestra.plugin.core.runner.Process)"
    )]
    Unreachable { host: String, reason: String },
    #[error("the Docker engine failed: {0}")]
    Engine(#[from] bollard::errors::Error),
}

/// An image on an engine: the runner's `host` (`None`: the worker's engine) and the image.
type ImageOnHost = (Option<String>, String);

/// The worker's handle on the Docker engine: its settings, the owner labels, and a client
/// connected (API version negotiated) on first use, so workers that never run a container
/// never need an engine.
#[derive(Debug)]
pub struct DockerEngine {
    settings: DockerSettings,
    owner: Owner,
    client: OnceCell<Docker>,
    /// Containers that exited, being removed in the background.
    removals: removal::Removals,
    /// The `User` of images looked at lately (see `image_user`).
    image_users: Mutex<HashMap<ImageOnHost, (Instant, String)>>,
}

impl DockerEngine {
    pub fn new(settings: DockerSettings, owner: Owner) -> Self {
        DockerEngine {
            settings,
            owner,
            client: OnceCell::new(),
            removals: removal::Removals::default(),
            image_users: Mutex::default(),
        }
    }

    pub fn settings(&self) -> &DockerSettings {
        &self.settings
    }

    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The labels of a task run's container: the owner's, and the task run's from its
    /// template context.
    pub(crate) fn labels(&self, context: &serde_json::Value) -> HashMap<String, String> {
        let mut labels = self.owner.labels();
        for (label, pointer) in [
            (LABEL_TASK_RUN, "/taskrun/id"),
            (LABEL_EXECUTION, "/execution/id"),
            (LABEL_NAMESPACE, "/flow/namespace"),
            (LABEL_FLOW, "/flow/id"),
            (LABEL_TASK, "/task/id"),
        ] {
            if let Some(value) = context.pointer(pointer).and_then(serde_json::Value::as_str) {
                labels.insert(label.to_owned(), value.to_owned());
            }
        }
        labels
    }

    /// Waits for the containers being removed in the background: the worker calls it when it
    /// stops, so none outlives it.
    pub async fn removals_finished(&self) {
        self.removals.finished().await;
    }

    /// The user an image's containers run as by default (its `User`, empty for root); `None`
    /// when the engine does not have the image. Kept a minute: a task after a task of the same
    /// image saves the engine a round trip, and a re-tagged image is seen soon enough.
    pub(crate) async fn image_user(
        &self,
        client: &Docker,
        spec: &spec::ContainerSpec,
    ) -> Option<String> {
        const KEEP: Duration = Duration::from_secs(60);
        let key = (spec.host.clone(), spec.image.clone());
        let cached = self.image_users.lock().ok()?.get(&key).cloned();
        if let Some((_, user)) = cached.filter(|(at, _)| at.elapsed() < KEEP) {
            return Some(user);
        }
        let image = client.inspect_image(&spec.image).await.ok()?;
        let user = image.config.and_then(|c| c.user).unwrap_or_default();
        let mut users = self.image_users.lock().ok()?;
        users.retain(|_, (at, _)| at.elapsed() < KEEP);
        users.insert(key, (Instant::now(), user.clone()));
        Some(user)
    }

    /// The client for the worker's engine, or for `host` when a task names its own.
    pub async fn client(&self, host: Option<&str>) -> Result<Docker, Error> {
        match host.filter(|h| !h.is_empty()) {
            Some(host) => connect(Some(host)).await,
            None => self
                .client
                .get_or_try_init(|| connect(self.settings.host.as_deref()))
                .await
                .cloned(),
        }
    }
}

/// Connects and negotiates the API version: bollard speaks a newer API than many engines, which
/// reject requests above their own version.
async fn connect(host: Option<&str>) -> Result<Docker, Error> {
    let shown = host.unwrap_or("the default socket (DOCKER_HOST or /var/run/docker.sock)");
    let unreachable = |e: bollard::errors::Error| Error::Unreachable {
        host: shown.to_owned(),
        reason: e.to_string(),
    };
    let docker = match host {
        Some(host) => Docker::connect_with_host(host),
        None => Docker::connect_with_defaults(),
    }
    .map_err(unreachable)?;
    docker.negotiate_version().await.map_err(unreachable)
}
