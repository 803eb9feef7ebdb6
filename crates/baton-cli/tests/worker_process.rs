//! `baton server worker` as a real process against a hub in the test: `kill -9` loses the
//! lease (after the lease, not before) and another worker takes attempt 2; SIGTERM drains.

#[path = "../../baton-worker/tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use baton_executor::hub::{HubEvent, TaskState};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{TOKEN, TestHub, WAIT, group_gone, start_hub};
use tokio::process::{Child, Command};

fn spawn_worker(hub: &TestHub, id: &str, drain_grace: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["server", "worker", "--executor", &hub.url(), "--slots", "2"])
        .args(["--worker-id", id, "--drain-grace", drain_grace])
        .env("BATON_WORKER_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("baton starts")
}

async fn joined(hub: &mut TestHub, id: &str) {
    hub.wait_for(|e| match e {
        HubEvent::WorkerJoined(info) if info.id == id => Some(()),
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_its_lease_and_another_worker_takes_attempt_2() {
    let lease = Duration::from_secs(1);
    let mut hub = start_hub(lease, Duration::from_millis(200)).await;
    let mut first = spawn_worker(&hub, "w-doomed", "5");
    joined(&mut hub, "w-doomed").await;
    hub.assign("tr-long", "long");
    let pgid = hub.pgid("tr-long").await;

    first.start_kill().expect("kill -9");
    let killed_at = Instant::now();
    first.wait().await.expect("reaped");
    let (attempt, worker_id) = hub
        .wait_for(|e| match e {
            HubEvent::LeaseExpired {
                task_run_id,
                attempt,
                worker_id,
            } if task_run_id == "tr-long" => Some((*attempt, worker_id.clone())),
            _ => None,
        })
        .await;
    let after = killed_at.elapsed();
    assert_eq!((attempt, worker_id.as_str()), (1, "w-doomed"));
    assert!(
        after >= lease,
        "the lease ran out {after:?} after kill -9, before {lease:?}"
    );
    eprintln!("lease expired {after:?} after kill -9 (lease {lease:?})");
    // The dead worker's shell was orphaned, not killed: clean it up.
    let _ = nix::sys::signal::killpg(Pid::from_raw(pgid), Signal::SIGKILL);

    // The executor's role: dispatch attempt 2, which a second worker takes.
    let mut second = spawn_worker(&hub, "w-second", "5");
    joined(&mut hub, "w-second").await;
    hub.hub.assign(hub.assignment("tr-long", "long", 2));
    let started = hub
        .wait_for(|e| match e {
            HubEvent::Started {
                task_run_id,
                attempt,
                worker_id,
            } if task_run_id == "tr-long" => Some((*attempt, worker_id.clone())),
            _ => None,
        })
        .await;
    assert_eq!(started, (2, "w-second".to_owned()));
    hub.pgid("tr-long").await;
    hub.hub.kill("tr-long");
    let result = hub.finished("tr-long").await;
    assert_eq!((result.state, result.attempt), (TaskState::Killed, 2));

    kill(
        Pid::from_raw(second.id().expect("pid") as i32),
        Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let status = tokio::time::timeout(WAIT, second.wait())
        .await
        .expect("exits in time")
        .expect("status");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_short_task_runs_and_hands_back_long_ones() {
    let mut hub = start_hub(Duration::from_secs(5), Duration::from_millis(200)).await;
    let mut worker = spawn_worker(&hub, "w-drain", "2");
    joined(&mut hub, "w-drain").await;
    hub.assign("tr-long", "long");
    hub.assign("tr-short", "short");
    let long_pgid = hub.pgid("tr-long").await;
    hub.pgid("tr-short").await;

    let signalled_at = Instant::now();
    kill(
        Pid::from_raw(worker.id().expect("pid") as i32),
        Signal::SIGTERM,
    )
    .expect("SIGTERM");

    let short = hub.finished("tr-short").await;
    assert_eq!(short.state, TaskState::Success, "{short:?}");
    assert!(
        hub.logs("tr-short")
            .iter()
            .any(|l| l.message == "short done"),
        "{:?}",
        hub.logs("tr-short")
    );
    let attempt = hub
        .wait_for(|e| match e {
            HubEvent::HandedBack {
                task_run_id,
                attempt,
            } if task_run_id == "tr-long" => Some(*attempt),
            _ => None,
        })
        .await;
    assert_eq!(attempt, 1);
    let status = tokio::time::timeout(WAIT, worker.wait())
        .await
        .expect("exits in time")
        .expect("status");
    assert_eq!(status.code(), Some(0), "{status:?}");
    eprintln!(
        "drained and exited {:?} after SIGTERM (grace 2 s)",
        signalled_at.elapsed()
    );
    assert!(
        group_gone(long_pgid).await,
        "the long task's processes survived"
    );
    assert!(
        !hub.seen
            .iter()
            .any(|e| matches!(e, HubEvent::Finished(r) if r.task_run_id == "tr-long")),
        "a handed-back task run has no result"
    );
}
