//! The SQLite store: embedded, one process (`baton server local`).
//!
//! WAL mode (readers never block the writer), a busy timeout (writers queue instead of failing),
//! foreign keys on. SQLite has one writer at a time: every multi-statement write starts with
//! `BEGIN IMMEDIATE`, taking the write lock up front, so a transaction never fails half way when
//! upgrading from a read lock. Times are stored as microseconds since the epoch, taken from this
//! process's clock (the database's clock, for an embedded database).

mod backfills;
mod concurrency;
mod executions;
mod flows;
mod kv_logs;
mod queue;
mod retention;
mod triggers;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::wakeup::Wakeups;
use crate::{Error, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Where the database file lives.
#[derive(Debug, Clone)]
pub struct SqliteStoreOptions {
    pub path: PathBuf,
    pub max_connections: u32,
    /// How long a writer waits for the write lock before failing.
    pub busy_timeout: Duration,
}

impl SqliteStoreOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_connections: 8,
            busy_timeout: Duration::from_secs(30),
        }
    }
}

/// [`crate::Store`] on SQLite. Cheap to clone; clones share the pool and the wake-ups.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite has no NOTIFY: enqueues in this process wake its consumers directly.
    wakeups: Arc<Wakeups>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file. Does not migrate.
    pub async fn connect(options: SqliteStoreOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::new()
            .filename(&options.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .connect_with(connect)
            .await?;
        Ok(Self {
            pool,
            wakeups: Arc::default(),
        })
    }

    /// Applies pending migrations (one embedded process: no cross-process wait needed, and
    /// SQLite's write lock serializes two processes anyway).
    pub async fn migrate(&self) -> Result<()> {
        Ok(MIGRATOR.run(&self.pool).await?)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_immediate(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn now_micros() -> i64 {
    micros(Utc::now())
}

fn from_micros(micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| Error::InvalidData {
        what: "timestamp",
        value: micros.to_string(),
    })
}

fn duration_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
