SELECT execution_id, namespace, flow_id, state, slot_limit, queued_at
FROM concurrency_slots
WHERE namespace = $1 AND flow_id = $2
ORDER BY state = 'queued', queued_at, execution_id
