-- Also the lock: the transaction that reads it already holds SQLite's write lock.
SELECT t.namespace, t.flow_id, t.trigger_id, t.flow_revision, t.definition, t.fingerprint,
       t.next_fire_at, t.last_fire_at, t.last_execution_id, e.state AS last_execution_state,
       t.awaiting_execution, t.disabled, t.updated_at
FROM triggers t
LEFT JOIN executions e ON e.id = t.last_execution_id
WHERE t.namespace = ?1 AND t.flow_id = ?2 AND t.trigger_id = ?3
