//! The web UI: its pages over HTTP against a test cluster (`pages`), and in a real headless
//! Chromium against a real `baton server local` process (`browser`).

mod backfill;
mod browser;
mod namespace_files;
mod pages;
mod support;
