DELETE FROM concurrency_slots WHERE execution_id IN (SELECT value FROM json_each(?1))
