-- How many executions retention_executions_select.sql would take, without a limit.
SELECT count(*)
FROM executions e
WHERE ended_at < ?1
  AND state IN (SELECT value FROM json_each(?2))
  AND (?3 IS NULL OR namespace = ?3 OR substr(namespace, 1, length(?3) + 1) = ?3 || '.')
  AND (?4 IS NULL OR flow_id = ?4)
  AND NOT EXISTS (
      SELECT 1 FROM triggers t WHERE t.awaiting_execution = 1 AND t.last_execution_id = e.id)
  AND NOT EXISTS (
      SELECT 1 FROM backfills b WHERE b.state IN ('RUNNING', 'PAUSED') AND b.execution_id = e.id)
