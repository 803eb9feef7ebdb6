//! Removing task containers. A container that exited by itself is removed in the background
//! once its run has its result: by then nothing runs in it, and its removal (the engine deletes
//! its filesystem layer) would otherwise sit between the task's end and the next task's start.
//! A container that was killed, or whose run failed, is removed before its run ends, so a kill
//! or a timeout returns with the container gone. The worker waits for the background removals
//! when it stops ([`super::DockerEngine::removals_finished`]).

use std::sync::Arc;

use bollard::Docker;
use bollard::errors::Error as EngineError;
use bollard::query_parameters::RemoveContainerOptions;
use tokio::sync::watch;

/// The removals running in the background: how many, and a way to wait for none.
#[derive(Debug, Clone)]
pub(crate) struct Removals {
    pending: Arc<watch::Sender<usize>>,
}

impl Default for Removals {
    fn default() -> Self {
        Removals {
            pending: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl Removals {
    fn spawn(&self, client: Docker, id: String) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pending = Pending::new(Arc::clone(&self.pending));
        // Created here, so exported traces show the removal under the task run attempt that
        // ran the container, although it ends after the attempt.
        let span = tracing::info_span!("container.remove", container_id = %id);
        runtime.spawn(tracing::Instrument::instrument(
            async move {
                remove(&client, &id).await;
                drop(pending);
            },
            span,
        ));
    }

    /// Waits until no removal runs in the background.
    pub(crate) async fn finished(&self) {
        let mut pending = self.pending.subscribe();
        let _ = pending.wait_for(|n| *n == 0).await;
    }
}

/// One background removal, counted from its spawn until its task ends or is dropped.
struct Pending(Arc<watch::Sender<usize>>);

impl Pending {
    fn new(pending: Arc<watch::Sender<usize>>) -> Self {
        pending.send_modify(|n| *n += 1);
        Pending(pending)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A created container's removal: [`Removal::now`] or [`Removal::later`] on every path its run
/// takes, and in the background from `Drop` if the run's future is dropped before that.
pub(crate) struct Removal {
    pub client: Docker,
    pub id: String,
    /// False when the runner keeps its containers (`delete: false`).
    pub armed: bool,
    pub removals: Removals,
}

impl Removal {
    /// Removes the container before returning.
    pub(crate) async fn now(mut self) {
        if std::mem::take(&mut self.armed) {
            remove(&self.client, &self.id).await;
        }
    }

    /// Removes the container in the background (`Drop` does).
    pub(crate) fn later(self) {
        drop(self);
    }
}

impl Drop for Removal {
    fn drop(&mut self) {
        if std::mem::take(&mut self.armed) {
            self.removals
                .spawn(self.client.clone(), std::mem::take(&mut self.id));
        }
    }
}

async fn remove(client: &Docker, id: &str) {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..RemoveContainerOptions::default()
    };
    match client.remove_container(id, Some(options)).await {
        Ok(())
        | Err(EngineError::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        // The sweeper of the next worker start on this host takes it.
        Err(error) => tracing::warn!(container = id, %error, "cannot remove a task container"),
    }
}
