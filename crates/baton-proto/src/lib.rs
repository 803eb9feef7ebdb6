//! Baton's gRPC protocol, generated from `proto/baton/v1/*.proto` at build time.
//!
//! - [`v1`] holds the messages and the clients and servers of `WorkerService` (executors ↔
//!   workers) and of the public API, `FlowService` and `ExecutionService`.
//! - [`FILE_DESCRIPTOR_SET`] is the encoded descriptor set, for `tonic-reflection`.
//! - [`trace`] derives an execution's OpenTelemetry trace context from its id, the one thing
//!   every hop between roles carries.

/// Messages and services of the `baton.v1` package.
#[allow(clippy::all, clippy::pedantic, rust_2018_idioms)]
pub mod v1 {
    tonic::include_proto!("baton.v1");
}

/// The encoded `FileDescriptorSet` of every Baton proto file.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/baton_descriptor.bin"));

pub use prost_types::Timestamp;

pub mod trace;

/// The `authorization` metadata value a worker sends: `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
