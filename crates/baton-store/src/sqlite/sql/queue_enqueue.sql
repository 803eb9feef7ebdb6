-- A message with a consumer (?7) is inserted already claimed by it (attempt 1, leased ?8 µs).
INSERT INTO queue_messages (queue, key, payload, priority, run_at, created_at, state, consumer_id,
                            attempt, lease_expires_at)
VALUES (?1, ?2, ?3, ?4, COALESCE(?5, ?6), ?6,
        CASE WHEN ?7 IS NULL THEN 'available' ELSE 'claimed' END, ?7,
        CASE WHEN ?7 IS NULL THEN 0 ELSE 1 END,
        CASE WHEN ?7 IS NULL THEN NULL ELSE ?6 + ?8 END)
RETURNING id
