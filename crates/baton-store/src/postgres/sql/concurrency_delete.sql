DELETE FROM concurrency_slots WHERE execution_id = $1
