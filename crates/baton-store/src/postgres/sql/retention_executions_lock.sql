-- Up to $5 ended executions that match the purge filter, oldest end first. SKIP LOCKED: purges
-- running at once take different batches and never wait for an executor's step. An execution a
-- Schedule trigger still waits for, or an active backfill's last one, is kept until they move on.
SELECT id, namespace, flow_id
FROM executions e
WHERE ended_at < $1
  AND state = ANY($2)
  AND ($3::text IS NULL OR namespace = $3 OR starts_with(namespace, $3 || '.'))
  AND ($4::text IS NULL OR flow_id = $4)
  AND NOT EXISTS (
      SELECT 1 FROM triggers t WHERE t.awaiting_execution AND t.last_execution_id = e.id)
  AND NOT EXISTS (
      SELECT 1 FROM backfills b WHERE b.state IN ('RUNNING', 'PAUSED') AND b.execution_id = e.id)
ORDER BY ended_at, id
LIMIT $5
FOR UPDATE SKIP LOCKED
