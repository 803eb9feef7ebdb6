INSERT INTO queue_messages (queue, key, payload, priority, run_at, created_at)
VALUES (?1, ?2, ?3, ?4, COALESCE(?5, ?6), ?6)
RETURNING id
