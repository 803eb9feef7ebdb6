DELETE FROM triggers
WHERE namespace = $1 AND flow_id = $2 AND NOT (trigger_id = ANY($3::text[]))
