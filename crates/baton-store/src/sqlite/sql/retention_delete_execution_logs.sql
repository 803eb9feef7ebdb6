-- ?1 is a JSON array of execution ids.
DELETE FROM logs WHERE execution_id IN (SELECT value FROM json_each(?1))
