-- One statement. SQLite has a single writer, so no two claims ever overlap. A keyed message is
-- claimable only when no older message with its key exists (one holder per key, in order).
UPDATE queue_messages
SET state = 'claimed', consumer_id = ?2, attempt = attempt + 1, lease_expires_at = ?5 + ?4
WHERE id IN (
    SELECT m.id
    FROM queue_messages m
    WHERE m.queue = ?1
      AND m.state = 'available'
      AND m.run_at <= ?5
      AND (m.key IS NULL OR NOT EXISTS (
          SELECT 1 FROM queue_messages o
          WHERE o.queue = m.queue AND o.key = m.key AND o.id < m.id))
    ORDER BY m.priority, m.run_at, m.id
    LIMIT ?3
)
RETURNING id, queue, key, payload, attempt, lease_expires_at, priority, run_at
