//! The REST API over a real socket: HTTP from reqwest to the webserver, a real SQLite store,
//! the executor and real workers behind it.

mod access;
mod commands;
mod executions;
mod files;
mod flows;
mod measurements;
mod streams;
mod support;
mod triggers;
mod webhooks;
