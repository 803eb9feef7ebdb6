-- A waiting execution keeps its place (queued_at) when it is queued again or promoted.
INSERT INTO concurrency_slots (execution_id, namespace, flow_id, state, slot_limit, queued_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (execution_id) DO UPDATE SET state = EXCLUDED.state, slot_limit = EXCLUDED.slot_limit
