//! The Postgres store: several Baton processes share one database.

mod backfills;
mod concurrency;
mod executions;
mod flows;
mod kv_logs;
mod queue;
mod retention;
mod triggers;
mod triggers_fire;

use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::task::JoinHandle;

use crate::wakeup::Wakeups;
use crate::{Result, Wakeup};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel every enqueue notifies, with the queue name as payload.
const QUEUE_CHANNEL: &str = "baton_queue";

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PgStoreOptions {
    pub connect: PgConnectOptions,
    pub max_connections: u32,
}

impl PgStoreOptions {
    pub fn new(connect: PgConnectOptions) -> Self {
        Self {
            connect,
            max_connections: 10,
        }
    }

    /// Reads a `postgres://user:password@host:port/database` URL (the JDBC form
    /// `jdbc:postgresql://…` is accepted too, as Kestra configurations write it).
    pub fn from_url(url: &str) -> crate::Result<Self> {
        let url = url.strip_prefix("jdbc:").unwrap_or(url);
        let connect = url
            .parse::<PgConnectOptions>()
            .map_err(|_| crate::Error::InvalidData {
                what: "Postgres URL",
                value: redact(url),
            })?;
        Ok(Self::new(connect))
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// [`crate::Store`] on Postgres. Cheap to clone; clones share the pool and the listener.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    connect: PgConnectOptions,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    wakeups: Arc<Wakeups>,
    /// The LISTEN task, started by the first `subscribe`.
    listener: Mutex<Option<JoinHandle<()>>>,
    /// The connection Schedule fires go through (`triggers_fire`).
    fire_connection: triggers_fire::FireConnection,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let listener = self.listener.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = listener.take() {
            task.abort();
        }
    }
}

impl PgStore {
    /// Connects (lazily: the first query opens the first connection). Does not migrate.
    pub fn connect(options: PgStoreOptions) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .connect_lazy_with(options.connect.clone());
        Self {
            pool,
            connect: options.connect,
            shared: Arc::default(),
        }
    }

    /// The pool's connections now: `(open, idle)`; for the `/metrics` gauges of pool use.
    pub fn pool_connections(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// Applies pending migrations. Safe to call from several processes at once: sqlx's migrator
    /// holds a Postgres advisory lock while it works, so one applies and the others wait, then
    /// find nothing to do. It runs on its own connection, closed afterwards, so a failed
    /// migration cannot leave the lock held by a pooled connection.
    pub async fn migrate(&self) -> Result<()> {
        let mut conn = PgConnection::connect_with(&self.connect).await?;
        let outcome = MIGRATOR.run_direct(None, &mut conn, false).await;
        conn.close().await?;
        Ok(outcome?)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn subscribe_wakeup(&self, queue: &str) -> Wakeup {
        let wakeup = self.shared.wakeups.subscribe(queue);
        let mut listener = self
            .shared
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if listener.as_ref().is_none_or(JoinHandle::is_finished) {
            let pool = self.pool.clone();
            let wakeups = self.shared.wakeups.clone();
            *listener = Some(tokio::spawn(listen(pool, wakeups)));
        }
        wakeup
    }
}

/// Turns notifications into wake-ups. On a lost connection sqlx reconnects by itself; the
/// notifications sent meanwhile are lost, so every subscriber is woken to poll once.
async fn listen(pool: PgPool, wakeups: Arc<Wakeups>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if listener.listen(QUEUE_CHANNEL).await.is_err() {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        // The subscription may have come after enqueues we did not hear about.
        wakeups.wake_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => wakeups.wake(notification.payload()),
                Ok(None) => wakeups.wake_all(),
                Err(_) => {
                    wakeups.wake_all();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn urls_parse_in_both_forms_and_errors_hide_the_password() {
        assert!(PgStoreOptions::from_url("postgres://baton:secret@db:5432/baton").is_ok());
        assert!(PgStoreOptions::from_url("jdbc:postgresql://db:5432/baton").is_ok());
        let error =
            PgStoreOptions::from_url("postgres://baton:secret@db:notaport/baton").unwrap_err();
        let message = format!("{error:?}");
        assert!(
            !message.contains("secret") && message.contains("baton:***@db"),
            "{message}"
        );
    }
}
