pub mod execution;
pub mod flow;
pub mod health;
pub mod server;
pub mod sys;
pub mod trigger;
