-- How many lines retention_logs_delete.sql would delete, without a limit.
SELECT count(*) FROM logs l
WHERE l.timestamp < $1
  AND (($2::text IS NULL AND $3::text IS NULL) OR EXISTS (
      SELECT 1 FROM executions e
      WHERE e.id = l.execution_id
        AND ($2::text IS NULL OR e.namespace = $2 OR starts_with(e.namespace, $2 || '.'))
        AND ($3::text IS NULL OR e.flow_id = $3)))
