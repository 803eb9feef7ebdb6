-- Creates the trigger's row on first use and locks it until the transaction ends.
INSERT INTO flow_trigger_windows (namespace, flow_id, trigger_id) VALUES ($1, $2, $3)
ON CONFLICT (namespace, flow_id, trigger_id) DO UPDATE SET namespace = EXCLUDED.namespace
RETURNING state
