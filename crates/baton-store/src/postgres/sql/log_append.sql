-- Sent alone (its own transaction), it commits without waiting for the disk: set_config in
-- RETURNING runs for every row, before the commit reads the setting (see PgStore::append_logs).
INSERT INTO logs (execution_id, task_run_id, attempt, level, timestamp, message)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::text[], $5::timestamptz[], $6::text[])
RETURNING set_config('synchronous_commit', 'off', true)
