INSERT INTO logs (execution_id, task_run_id, attempt, level, timestamp, message)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::text[], $5::timestamptz[], $6::text[])
