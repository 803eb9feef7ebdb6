-- Trigger rows by (namespace, flow, trigger), with their last execution's state.
SELECT t.namespace, t.flow_id, t.trigger_id, t.flow_revision, t.definition, t.fingerprint,
       t.next_fire_at, t.last_fire_at, t.last_execution_id, e.state AS last_execution_state,
       t.awaiting_execution, t.disabled, t.updated_at
FROM triggers t
LEFT JOIN executions e ON e.id = t.last_execution_id
WHERE (?1 IS NULL OR t.namespace = ?1 OR substr(t.namespace, 1, length(?1) + 1) = ?1 || '.')
  AND (?2 IS NULL OR t.flow_id = ?2)
ORDER BY t.namespace, t.flow_id, t.trigger_id
