//! A worker behind a TCP proxy that the test cuts: the lease survives a reconnect within the
//! lease and runs out when the worker does not come back.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_executor::hub::{HubEvent, TaskState};
use baton_worker::WorkerOptions;
use support::{TOKEN, start_hub};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards connections to `target` until cut; while `accepting` is off, new connections are
/// dropped at once.
struct Proxy {
    addr: SocketAddr,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: Arc<Mutex<bool>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let links = Arc::new(Mutex::new(Vec::new()));
        let accepting = Arc::new(Mutex::new(true));
        let (links2, accepting2) = (Arc::clone(&links), Arc::clone(&accepting));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*accepting2.lock().unwrap() {
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().unwrap().push(link);
            }
        });
        Proxy {
            addr,
            links,
            accepting,
        }
    }

    /// Drops every open connection (both ends see the socket close).
    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn refuse(&self) {
        *self.accepting.lock().unwrap() = false;
    }
}

fn worker_options(proxy: &Proxy) -> WorkerOptions {
    let mut options = WorkerOptions::new(format!("http://{}", proxy.addr), TOKEN);
    options.worker_id = "w-proxied".to_owned();
    options.slots = 1;
    options.drain_grace = Duration::from_millis(100);
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_survives_a_reconnect_within_the_lease() {
    let lease = Duration::from_millis(1500);
    let mut hub = start_hub(lease, Duration::from_millis(200)).await;
    let proxy = Proxy::start(hub.addr).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(baton_worker::run(worker_options(&proxy), async move {
        let _ = stopped.await;
    }));
    // `short` runs 0.5 s; the cut falls in the middle of it.
    hub.assign("tr-short", "short");
    hub.pgid("tr-short").await;
    proxy.cut();
    hub.wait_for(|e| matches!(e, HubEvent::WorkerLeft { .. }).then_some(()))
        .await;
    hub.wait_for(|e| matches!(e, HubEvent::WorkerJoined(_)).then_some(()))
        .await;
    let result = hub.finished("tr-short").await;
    assert_eq!(result.state, TaskState::Success, "{result:?}");
    assert_eq!(result.attempt, 1);
    assert!(
        !hub.seen
            .iter()
            .any(|e| matches!(e, HubEvent::LeaseExpired { .. })),
        "{:#?}",
        hub.seen
    );
    let _ = stop.send(());
    worker
        .await
        .expect("worker task")
        .expect("worker stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expires_when_the_worker_does_not_come_back() {
    let lease = Duration::from_secs(1);
    let mut hub = start_hub(lease, Duration::from_millis(200)).await;
    let proxy = Proxy::start(hub.addr).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(baton_worker::run(worker_options(&proxy), async move {
        let _ = stopped.await;
    }));
    hub.assign("tr-long", "long");
    let pgid = hub.pgid("tr-long").await;
    proxy.refuse();
    let cut_at = Instant::now();
    proxy.cut();
    let (task_run_id, attempt, worker_id) = hub
        .wait_for(|e| match e {
            HubEvent::LeaseExpired {
                task_run_id,
                attempt,
                worker_id,
            } => Some((task_run_id.clone(), *attempt, worker_id.clone())),
            _ => None,
        })
        .await;
    let after = cut_at.elapsed();
    assert_eq!(
        (task_run_id.as_str(), attempt, worker_id.as_str()),
        ("tr-long", 1, "w-proxied")
    );
    assert!(
        after >= lease,
        "the lease ran out after {after:?}, before {lease:?}"
    );
    eprintln!("lease expired {after:?} after the cut (lease {lease:?})");
    // The cut-off worker still runs it; stopping the worker kills it.
    let _ = stop.send(());
    worker.await.expect("worker task").expect("worker stops");
    assert!(support::group_gone(pgid).await);
}
