-- Inserts nothing when the trigger does not exist.
INSERT INTO backfills (id, namespace, flow_id, trigger_id, start_at, end_at, next_fire_at, inputs,
                       labels, state, total, created_at, updated_at)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, CASE WHEN ?7 IS NULL THEN 'DONE' ELSE 'RUNNING' END, ?10, ?11, ?11
WHERE EXISTS (SELECT 1 FROM triggers WHERE namespace = ?2 AND flow_id = ?3 AND trigger_id = ?4)
RETURNING id
