//! The crate's one error type.

use uuid::Uuid;

/// Everything a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The flow (or the asked-for revision of it) does not exist, or the flow is deleted.
    #[error("flow {namespace}.{id} not found")]
    FlowNotFound { namespace: String, id: String },
    /// No execution has this id.
    #[error("execution {0} not found")]
    ExecutionNotFound(Uuid),
    /// Optimistic concurrency: the execution was updated by someone else since it was read.
    #[error("execution {id} was changed concurrently (expected version {expected})")]
    Conflict { id: Uuid, expected: i64 },
    /// No Schedule trigger row has this key (`namespace.flow.trigger`).
    #[error("trigger {0} not found")]
    TriggerNotFound(String),
    /// The date fired already: its execution exists.
    #[error("trigger {trigger} fired for {date} already")]
    DuplicateFire {
        trigger: String,
        date: chrono::DateTime<chrono::Utc>,
    },
    #[error("backfill {0} not found")]
    BackfillNotFound(Uuid),
    /// A trigger has at most one running or paused backfill.
    #[error("trigger {0} has a backfill running or paused already")]
    BackfillActive(String),
    /// The backfill is not in a state the change applies to.
    #[error("backfill {id} is {state}")]
    BackfillState { id: Uuid, state: &'static str },
    /// A row holds a value this version of Baton cannot read (an unknown state, a bad id).
    #[error("invalid {what} in the database: {value}")]
    InvalidData { what: &'static str, value: String },
    /// The database refused or failed a statement, or could not be reached.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("schema migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
