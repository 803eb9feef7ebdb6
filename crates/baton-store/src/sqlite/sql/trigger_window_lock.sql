-- The write lock (`BEGIN IMMEDIATE`) already serializes; the row is created on first use.
INSERT INTO flow_trigger_windows (namespace, flow_id, trigger_id, updated_at)
VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (namespace, flow_id, trigger_id) DO UPDATE SET namespace = excluded.namespace
RETURNING state
