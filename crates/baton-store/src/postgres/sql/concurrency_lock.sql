-- Locks the flow's row (creating it on first use) until the transaction ends: every slot
-- decision for the flow waits here for the one before it.
INSERT INTO concurrency_locks (namespace, flow_id) VALUES ($1, $2)
ON CONFLICT (namespace, flow_id) DO UPDATE SET namespace = EXCLUDED.namespace
