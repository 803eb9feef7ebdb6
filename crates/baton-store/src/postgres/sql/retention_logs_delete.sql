-- Up to $4 log lines written before $1, of executions in namespace $2 (and its children) and
-- flow $3 when given. Lines of executions already gone match no namespace or flow filter.
DELETE FROM logs
WHERE id IN (
    SELECT l.id FROM logs l
    WHERE l.timestamp < $1
      AND (($2::text IS NULL AND $3::text IS NULL) OR EXISTS (
          SELECT 1 FROM executions e
          WHERE e.id = l.execution_id
            AND ($2::text IS NULL OR e.namespace = $2 OR starts_with(e.namespace, $2 || '.'))
            AND ($3::text IS NULL OR e.flow_id = $3)))
    LIMIT $4)
