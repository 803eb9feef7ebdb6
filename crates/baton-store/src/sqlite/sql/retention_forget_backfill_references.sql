UPDATE backfills SET execution_id = NULL
WHERE execution_id IN (SELECT value FROM json_each(?1)) AND state NOT IN ('RUNNING', 'PAUSED')
