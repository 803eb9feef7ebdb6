-- Only rows of transactions older than every running one: a row that commits later can never
-- sort before a cursor already handed out.
SELECT tx, id, execution_id, task_run_id, attempt, level, timestamp, message
FROM logs
WHERE execution_id = $1
  AND (tx, id) > ($2, $3)
  AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
ORDER BY tx, id
LIMIT $4
