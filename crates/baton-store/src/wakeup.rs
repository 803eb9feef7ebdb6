//! In-process wake-ups for queue consumers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

/// Fires when messages may have arrived on a queue. A wake-up that happens while nobody waits is
/// kept (one permit), so a consumer that claims, finds nothing, then waits, misses nothing.
#[derive(Debug, Clone)]
pub struct Wakeup {
    notify: Arc<Notify>,
}

impl Wakeup {
    /// Waits for a wake-up.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// Waits for a wake-up or `timeout`, whichever comes first; true if woken.
    pub async fn wait(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.notify.notified())
            .await
            .is_ok()
    }
}

/// The subscribers of each queue in this process.
#[derive(Debug, Default)]
pub(crate) struct Wakeups {
    subscribers: Mutex<HashMap<String, Vec<Weak<Notify>>>>,
}

impl Wakeups {
    pub(crate) fn subscribe(&self, queue: &str) -> Wakeup {
        let notify = Arc::new(Notify::new());
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let list = subscribers.entry(queue.to_owned()).or_default();
        list.retain(|weak| weak.strong_count() > 0);
        list.push(Arc::downgrade(&notify));
        Wakeup { notify }
    }

    pub(crate) fn wake(&self, queue: &str) {
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        for notify in subscribers
            .get(queue)
            .into_iter()
            .flatten()
            .filter_map(Weak::upgrade)
        {
            notify.notify_one();
        }
    }

    /// After a lost database connection: notifications may have been missed, so everyone polls.
    pub(crate) fn wake_all(&self) {
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        for notify in subscribers.values().flatten().filter_map(Weak::upgrade) {
            notify.notify_one();
        }
    }
}
