//! The worker's way to the namespace KV store: calls go out on the executor stream as
//! `KvCall`s and come back as `KvReply`s. A call made while disconnected waits for the next
//! stream; a call already sent when the stream breaks fails (it may or may not have been
//! applied, so it is not sent twice).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use baton_proto::v1::{self, kv_call::Op};
use baton_tasks::kv::{KvAccess, KvAnswer, KvOp, KvRequest};
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

/// How long a call waits for its answer, the wait for a connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

type Reply = Result<KvAnswer, String>;

/// A cheap handle; the session owns the receiving end of the calls.
#[derive(Clone)]
pub(crate) struct KvClient {
    inner: Arc<Inner>,
}

struct Inner {
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
    calls: mpsc::UnboundedSender<v1::KvCall>,
}

struct Pending {
    reply: oneshot::Sender<Reply>,
    /// Written to a stream; fails if that stream breaks.
    sent: bool,
}

impl KvClient {
    /// The client and the calls it makes, for the session to send.
    pub(crate) fn new() -> (KvClient, mpsc::UnboundedReceiver<v1::KvCall>) {
        let (calls, receiver) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            calls,
        });
        (KvClient { inner }, receiver)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The session wrote the call to its stream.
    pub(crate) fn sent(&self, call_id: u64) {
        if let Some(pending) = self.pending().get_mut(&call_id) {
            pending.sent = true;
        }
    }

    /// The executor answered.
    pub(crate) fn answered(&self, reply: v1::KvReply) {
        let Some(pending) = self.pending().remove(&reply.call_id) else {
            return;
        };
        let answer = if reply.error.is_empty() {
            let value = (reply.found && !reply.value_json.is_empty())
                .then(|| serde_json::from_str(&reply.value_json))
                .transpose()
                .map_err(|e| format!("the executor sent a value that is not JSON: {e}"));
            value.map(|value| KvAnswer {
                found: reply.found,
                value,
            })
        } else {
            Err(reply.error)
        };
        let _ = pending.reply.send(answer);
    }

    /// The stream broke: calls written to it fail, the others wait for the next one.
    pub(crate) fn stream_broke(&self) {
        let mut pending = self.pending();
        let sent: Vec<u64> = pending
            .iter()
            .filter(|(_, p)| p.sent)
            .map(|(id, _)| *id)
            .collect();
        for id in sent {
            if let Some(call) = pending.remove(&id) {
                let _ = call.reply.send(Err(
                    "the connection to the executor broke during the KV call".to_owned(),
                ));
            }
        }
    }
}

impl KvAccess for KvClient {
    fn call(&self, request: KvRequest) -> BoxFuture<'static, Reply> {
        let call_id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        self.pending()
            .insert(call_id, Pending { reply, sent: false });
        let op = match request.op {
            KvOp::Get => Op::Get(v1::KvGet {}),
            KvOp::Delete => Op::Delete(v1::KvDelete {}),
            KvOp::Set {
                value,
                ttl,
                overwrite,
            } => Op::Set(v1::KvSet {
                value_json: value.to_string(),
                ttl_ms: ttl.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
                overwrite,
            }),
        };
        let queued = self.inner.calls.send(v1::KvCall {
            call_id,
            namespace: request.namespace,
            key: request.key,
            op: Some(op),
        });
        let client = self.clone();
        Box::pin(async move {
            if queued.is_err() {
                client.pending().remove(&call_id);
                return Err("the worker is stopping".to_owned());
            }
            match tokio::time::timeout(CALL_TIMEOUT, answer).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(_)) => Err("the worker is stopping".to_owned()),
                Err(_) => {
                    client.pending().remove(&call_id);
                    Err(format!(
                        "the executor did not answer the KV call within {CALL_TIMEOUT:?}"
                    ))
                }
            }
        })
    }
}
