-- Newest first.
SELECT b.id, b.namespace, b.flow_id, b.trigger_id, b.start_at, b.end_at, b.next_fire_at,
       b.inputs, b.labels, b.state, b.total, b.created,
       (SELECT count(*) FROM trigger_fires f JOIN executions x ON x.id = f.execution_id
        WHERE f.origin = b.id AND x.ended_at IS NOT NULL) AS ended,
       b.execution_id, e.state AS execution_state, b.created_at, b.updated_at
FROM backfills b
LEFT JOIN executions e ON e.id = b.execution_id
WHERE (?1 IS NULL OR (b.namespace = ?1 AND b.flow_id = ?2 AND b.trigger_id = ?3))
  AND (NOT ?4 OR b.state IN ('RUNNING', 'PAUSED'))
ORDER BY b.created_at DESC, b.id DESC
