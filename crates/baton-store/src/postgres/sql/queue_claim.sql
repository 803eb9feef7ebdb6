-- One statement: pick due messages (skipping rows other claimers hold), lease them.
-- A keyed message is claimable only when no older message with its key exists, so one key is
-- never held by two consumers and its messages are handled in enqueue order.
-- Sent alone (its own transaction), it commits without waiting for the disk: set_config in
-- RETURNING runs for every claimed row, before the commit reads the setting (see
-- PgStore::claim for why a claim may be lost).
WITH next AS (
    SELECT m.id
    FROM queue_messages m
    WHERE m.queue = $1
      AND m.state = 'available'
      AND m.run_at <= now()
      AND (m.key IS NULL OR NOT EXISTS (
          SELECT 1 FROM queue_messages o
          WHERE o.queue = m.queue AND o.key = m.key AND o.id < m.id))
    ORDER BY m.priority, m.run_at, m.id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE queue_messages q
SET state = 'claimed',
    consumer_id = $2,
    attempt = q.attempt + 1,
    lease_expires_at = now() + $4::float8 * interval '1 millisecond'
FROM next
WHERE q.id = next.id
RETURNING q.id, q.queue, q.key, q.payload, q.attempt, q.lease_expires_at, q.priority, q.run_at,
          set_config('synchronous_commit', 'off', true) AS relaxed
