UPDATE backfills SET execution_id = NULL
WHERE execution_id = ANY($1) AND state NOT IN ('RUNNING', 'PAUSED')
