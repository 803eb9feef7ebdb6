-- This transaction's commit does not wait for the disk (see PgStore::begin_relaxed).
SET LOCAL synchronous_commit = off
