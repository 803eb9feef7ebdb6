SELECT id, execution_id, task_run_id, attempt, level, timestamp, message
FROM logs
WHERE execution_id = ?1 AND id > ?2
ORDER BY id
LIMIT ?3
