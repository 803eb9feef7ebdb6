DELETE FROM concurrency_slots WHERE execution_id = ANY($1)
