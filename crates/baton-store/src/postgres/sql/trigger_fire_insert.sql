-- Nothing is returned when the date fired already: the caller reports a duplicate.
INSERT INTO trigger_fires (namespace, flow_id, trigger_id, fire_date, origin, execution_id)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING
RETURNING execution_id
