pub mod flow;
pub mod server;
