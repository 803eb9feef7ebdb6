-- How many lines retention_logs_delete.sql would delete, without a limit.
SELECT count(*) FROM logs l
WHERE l.timestamp < ?1
  AND ((?2 IS NULL AND ?3 IS NULL) OR EXISTS (
      SELECT 1 FROM executions e
      WHERE e.id = l.execution_id
        AND (?2 IS NULL OR e.namespace = ?2 OR substr(e.namespace, 1, length(?2) + 1) = ?2 || '.')
        AND (?3 IS NULL OR e.flow_id = ?3)))
