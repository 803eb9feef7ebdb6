//! Answers workers' KV calls from the store the executor serves (`WorkerHub::serve_kv`), each
//! in its own task, so a slow store never holds up a worker's stream.

use std::sync::Arc;
use std::time::Duration;

use baton_proto::v1::{self, ExecutorMessage, executor_message::Message as Out, kv_call::Op};
use baton_store::KvStore;

use super::state::Outbox;

pub(crate) fn answer(store: Option<Arc<dyn KvStore>>, call: v1::KvCall, outbox: Outbox) {
    tokio::spawn(async move {
        let call_id = call.call_id;
        let reply = match store {
            Some(store) => run(store.as_ref(), call).await,
            None => Err("this executor serves no KV store".to_owned()),
        };
        let reply = reply.unwrap_or_else(|error| v1::KvReply {
            error,
            ..v1::KvReply::default()
        });
        let _ = outbox.send(Ok(ExecutorMessage {
            message: Some(Out::KvReply(v1::KvReply { call_id, ..reply })),
        }));
    });
}

async fn run(store: &dyn KvStore, call: v1::KvCall) -> Result<v1::KvReply, String> {
    let (namespace, key) = (call.namespace.as_str(), call.key.as_str());
    if namespace.is_empty() || key.is_empty() {
        return Err("a KV call needs a namespace and a key".to_owned());
    }
    let failed = |e: baton_store::Error| format!("the KV store failed: {e}");
    match call.op {
        Some(Op::Get(_)) => {
            let entry = store.kv_get(namespace, key).await.map_err(failed)?;
            Ok(v1::KvReply {
                found: entry.is_some(),
                value_json: entry.map(|e| e.value.to_string()).unwrap_or_default(),
                ..v1::KvReply::default()
            })
        }
        Some(Op::Set(set)) => {
            let value: serde_json::Value = serde_json::from_str(&set.value_json)
                .map_err(|e| format!("the value is not JSON: {e}"))?;
            // Checked, then written: two runs setting one key at once may both pass the
            // check, as two Kestra workers may.
            if !set.overwrite
                && store
                    .kv_get(namespace, key)
                    .await
                    .map_err(failed)?
                    .is_some()
            {
                return Err(format!(
                    "Cannot set value for key '{key}'. Key already exists and `overwrite` is set \
                     to `false`."
                ));
            }
            let ttl = set.ttl_ms.map(Duration::from_millis);
            store
                .kv_set(namespace, key, &value, ttl)
                .await
                .map_err(failed)?;
            Ok(v1::KvReply {
                found: true,
                ..v1::KvReply::default()
            })
        }
        Some(Op::Delete(_)) => Ok(v1::KvReply {
            found: store.kv_delete(namespace, key).await.map_err(failed)?,
            ..v1::KvReply::default()
        }),
        None => Err("a KV call needs an operation".to_owned()),
    }
}
