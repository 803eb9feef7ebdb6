-- Inserts nothing when the trigger does not exist.
INSERT INTO backfills (id, namespace, flow_id, trigger_id, start_at, end_at, next_fire_at, inputs,
                       labels, state, total)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $7::timestamptz IS NULL THEN 'DONE' ELSE 'RUNNING' END, $10
WHERE EXISTS (SELECT 1 FROM triggers WHERE namespace = $2 AND flow_id = $3 AND trigger_id = $4)
RETURNING id
