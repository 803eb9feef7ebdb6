-- Serializes deploys and deletes of one flow (the first deploy has no row to lock).
SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))
