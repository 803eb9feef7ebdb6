INSERT INTO logs (execution_id, task_run_id, attempt, level, timestamp, message)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
