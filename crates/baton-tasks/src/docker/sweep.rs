//! Removes task containers a dead worker left behind (it was SIGKILLed, or its host lost power
//! before it could remove them). A worker sweeps once when it starts.
//!
//! A Baton container is an orphan when it was not created by this process (another `instance`
//! label) and either carries this worker's id (a restarted worker with a stable id), or was
//! created on this host by a process that no longer runs (or by an earlier process that had
//! this very pid, as a worker restarted in its own container is pid 1 again). Containers of
//! live workers, and of other hosts, are left alone.

use std::collections::HashMap;

use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use super::{
    DockerEngine, Error, LABEL_HOST, LABEL_INSTANCE, LABEL_MANAGED, LABEL_PID, LABEL_WORKER, Owner,
};

/// Removes this worker's orphaned containers; returns how many were removed.
pub async fn sweep_orphans(engine: &DockerEngine) -> Result<usize, Error> {
    let client = engine.client(None).await?;
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![format!("{LABEL_MANAGED}=true")],
        )])),
        ..ListContainersOptions::default()
    };
    let mut removed = 0;
    for container in client.list_containers(Some(options)).await? {
        let (Some(id), Some(labels)) = (container.id, container.labels) else {
            continue;
        };
        if !is_orphan(&labels, engine.owner(), process_runs) {
            continue;
        }
        let remove = RemoveContainerOptions {
            force: true,
            v: true,
            ..RemoveContainerOptions::default()
        };
        match client.remove_container(&id, Some(remove)).await {
            Ok(()) => removed += 1,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(removed)
}

fn is_orphan(
    labels: &HashMap<String, String>,
    owner: &Owner,
    process_runs: impl Fn(u32) -> bool,
) -> bool {
    let label = |name: &str| labels.get(name).map(String::as_str);
    if label(LABEL_INSTANCE) == Some(owner.instance.as_str()) {
        return false;
    }
    if label(LABEL_WORKER) == Some(owner.worker_id.as_str()) {
        return true;
    }
    if label(LABEL_HOST) != Some(owner.host.as_str()) {
        return false;
    }
    match label(LABEL_PID).and_then(|pid| pid.parse::<u32>().ok()) {
        Some(pid) => pid == owner.pid || !process_runs(pid),
        None => false,
    }
}

/// Whether a process with this pid exists here (signal 0 checks without sending anything).
fn process_runs(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphans_are_containers_of_dead_or_earlier_owners_only() {
        let me = Owner {
            worker_id: "w1".into(),
            host: "h".into(),
            pid: 10,
            instance: "now".into(),
        };
        let labels = |worker: &str, host: &str, pid: &str, instance: &str| {
            HashMap::from([
                (LABEL_WORKER.to_owned(), worker.to_owned()),
                (LABEL_HOST.to_owned(), host.to_owned()),
                (LABEL_PID.to_owned(), pid.to_owned()),
                (LABEL_INSTANCE.to_owned(), instance.to_owned()),
            ])
        };
        let alive = |pid: u32| pid == 20;
        // Mine, from this process: running tasks.
        assert!(!is_orphan(&labels("w1", "h", "10", "now"), &me, alive));
        // My worker id from an earlier process, even on another host.
        assert!(is_orphan(&labels("w1", "other", "5", "old"), &me, alive));
        // Same host: a dead pid, or my pid from an earlier process.
        assert!(is_orphan(&labels("w2", "h", "30", "x"), &me, alive));
        assert!(is_orphan(&labels("w2", "h", "10", "x"), &me, alive));
        // Same host, a live process: another worker's running task.
        assert!(!is_orphan(&labels("w2", "h", "20", "y"), &me, alive));
        // Another host: not ours to judge.
        assert!(!is_orphan(&labels("w2", "other", "30", "z"), &me, alive));
    }
}
