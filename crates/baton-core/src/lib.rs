//! Baton's core: everything about flows that needs no IO.
//!
//! - [`yaml`] reads YAML into a tree that remembers where every node came from.
//! - [`flow`] is the flow model; [`parse`] turns a YAML tree into it, collecting every error.
//! - [`template`] renders `{{ }}` templates in Kestra's Pebble dialect.
//! - [`inputs`] types, validates and coerces flow inputs.
//! - [`topology`] is the task graph that the UI and CLI draw.
//! - [`schedule`] computes the fire dates of Schedule triggers in their time zone.
//! - [`triggers`] decides whether Flow and Webhook triggers fire, and with what.
//!
//! Invariant: this crate does no IO. Anything that needs the outside world (secrets, the KV
//! store, files) reaches it through a trait that the caller implements.

pub mod cron;
pub mod diagnostic;
pub mod duration;
pub mod engine;
pub mod execution;
pub mod flow;
pub mod inputs;
pub mod parse;
pub mod schedule;
pub mod template;
pub mod topology;
pub mod triggers;
pub mod yaml;
