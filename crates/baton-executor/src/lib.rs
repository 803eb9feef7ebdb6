//! Baton's executor role.
//!
//! - [`executor`] runs the engine step on queued events and dispatches attempts to workers.
//! - [`hub`] is the executor's end of the worker protocol: workers connect to it over gRPC, and
//!   it pushes task runs to them under leases and reports what happens to them.

pub mod executor;
pub mod hub;
