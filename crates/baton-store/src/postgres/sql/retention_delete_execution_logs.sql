DELETE FROM logs WHERE execution_id = ANY($1)
