-- How many executions retention_executions_lock.sql would take, without a limit.
SELECT count(*)
FROM executions e
WHERE ended_at < $1
  AND state = ANY($2)
  AND ($3::text IS NULL OR namespace = $3 OR starts_with(namespace, $3 || '.'))
  AND ($4::text IS NULL OR flow_id = $4)
  AND NOT EXISTS (
      SELECT 1 FROM triggers t WHERE t.awaiting_execution AND t.last_execution_id = e.id)
  AND NOT EXISTS (
      SELECT 1 FROM backfills b WHERE b.state IN ('RUNNING', 'PAUSED') AND b.execution_id = e.id)
