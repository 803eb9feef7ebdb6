//! Liveness and readiness endpoints, served by every role on its own port:
//!
//! - `GET /health/live`: 200 while the process serves HTTP at all (restart it otherwise);
//! - `GET /health/ready`: 200 when the role can do its work, 503 with the failing check named
//!   otherwise (take it out of rotation): server roles need their store to answer (migrations
//!   are applied before a role listens, so a listening role is migrated); a worker needs a
//!   stream an executor welcomed it on. Every role reports 503 once it begins to drain on
//!   SIGTERM, so a load balancer stops sending before the port closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use baton_store::{FlowFilter, Store};
use serde_json::{Value, json};

/// What readiness depends on, per role.
#[derive(Clone)]
pub enum Readiness {
    /// Server roles: the store answers a read.
    Store(Arc<dyn Store>),
    /// A worker: it holds a stream to an executor.
    Worker(baton_worker::WorkerStatus),
}

#[derive(Clone)]
struct HealthState {
    readiness: Readiness,
    draining: Arc<AtomicBool>,
}

/// Set once the process begins to shut down: readiness turns 503 from then on.
#[derive(Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

pub fn router(readiness: Readiness, draining: &Draining) -> axum::Router {
    axum::Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(HealthState {
            readiness,
            draining: draining.0.clone(),
        })
}

async fn live() -> Json<Value> {
    Json(json!({"status": "UP"}))
}

async fn ready(State(state): State<HealthState>) -> (StatusCode, Json<Value>) {
    if state.draining.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "DOWN", "checks": {"shutdown": "draining"}})),
        );
    }
    let (check, result) = match &state.readiness {
        Readiness::Store(store) => {
            let probe = FlowFilter {
                limit: 1,
                ..FlowFilter::default()
            };
            let result = match store.list_flows(&probe).await {
                Ok(_) => Ok(()),
                Err(error) => Err(format!("the store does not answer: {error}")),
            };
            ("store", result)
        }
        Readiness::Worker(status) => {
            let result = if status.connected() {
                Ok(())
            } else {
                Err("not connected to an executor".to_owned())
            };
            ("executor", result)
        }
    };
    match result {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "UP", "checks": {check: "UP"}})),
        ),
        Err(reason) => {
            tracing::warn!(check, %reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "DOWN", "checks": {check: reason}})),
            )
        }
    }
}
