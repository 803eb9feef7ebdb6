-- A trigger's last execution, once purged, is forgotten rather than left pointing at nothing.
-- The fire records (trigger_fires) stay: they make a date fire once.
UPDATE triggers SET last_execution_id = NULL
WHERE last_execution_id = ANY($1) AND NOT awaiting_execution
