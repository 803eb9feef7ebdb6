//! The public gRPC API (`baton.v1.FlowService`, `ExecutionService`) of a real `baton server
//! local` process, over a real socket, from tonic clients: the calls a gRPC user makes, basic
//! auth, invalid flows, and health and reflection on the same port.

mod executions;
mod flows;
mod service;
mod support;
