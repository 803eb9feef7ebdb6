//! Stores on real databases for tests, in this crate and in the end-to-end tests (feature
//! `testing`). See [`postgres`] for how the throwaway server is run and cleaned up.

pub mod postgres;

pub use postgres::PgServer;

use crate::{PgStore, PgStoreOptions};

/// A migrated Postgres store on a fresh database of the test server.
pub async fn pg_store() -> PgStore {
    let options = PgServer::get().fresh_database().await;
    let store = PgStore::connect(PgStoreOptions::new(options));
    store.migrate().await.expect("migrate Postgres");
    store
}
