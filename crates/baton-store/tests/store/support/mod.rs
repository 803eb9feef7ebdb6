//! Stores on real databases for the tests.

use std::sync::Arc;

use baton_store::{SqliteStore, SqliteStoreOptions, Store};

pub use baton_store::testing::{PgServer, pg_store};

/// A migrated SQLite store in a fresh file (not `:memory:`: WAL and several connections
/// matter). The directory is deleted when the returned guard drops.
pub async fn sqlite_store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::connect(SqliteStoreOptions::new(dir.path().join("baton.db")))
        .await
        .expect("open SQLite");
    store.migrate().await.expect("migrate SQLite");
    (store, dir)
}

/// What a conformance test gets: the store, and whatever must live as long as it.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub _guard: Option<tempfile::TempDir>,
}

pub async fn postgres() -> TestStore {
    TestStore {
        store: Arc::new(pg_store().await),
        _guard: None,
    }
}

pub async fn sqlite() -> TestStore {
    let (store, dir) = sqlite_store().await;
    TestStore {
        store: Arc::new(store),
        _guard: Some(dir),
    }
}
