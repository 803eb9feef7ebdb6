pub mod execution;
pub mod flow;
pub mod server;
pub mod trigger;
