SELECT b.id, b.namespace, b.flow_id, b.trigger_id, b.start_at, b.end_at, b.next_fire_at,
       b.inputs, b.labels, b.state, b.total, b.created,
       (SELECT count(*) FROM trigger_fires f JOIN executions x ON x.id = f.execution_id
        WHERE f.origin = b.id::text AND x.ended_at IS NOT NULL)::int4 AS ended,
       b.execution_id, e.state AS execution_state, b.created_at, b.updated_at
FROM backfills b
LEFT JOIN executions e ON e.id = b.execution_id
WHERE b.id = $1
FOR UPDATE OF b
