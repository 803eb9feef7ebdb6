//! Backfills.
