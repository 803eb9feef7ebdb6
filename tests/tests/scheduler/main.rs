//! Schedules and backfills end to end: a real store, executor and workers (`TestCluster`), a
//! scheduler on a hand-moved clock (no test waits for 09:00 on the first of the month), and
//! `baton server scheduler` processes sharing one Postgres.

mod backfills;
mod replicas;
mod schedules;
mod support;
