DELETE FROM executions WHERE id = ANY($1)
