-- A trigger's last execution, once purged, is forgotten rather than left pointing at nothing.
-- The fire records (trigger_fires) stay: they make a date fire once.
UPDATE triggers SET last_execution_id = NULL
WHERE last_execution_id IN (SELECT value FROM json_each(?1)) AND awaiting_execution = 0
