-- The oldest queued execution takes a slot if fewer than its limit run. Returns nothing when
-- the queue is empty or the head must keep waiting (first in, first out: nobody overtakes it).
UPDATE concurrency_slots SET state = 'running'
WHERE execution_id = (
    SELECT head.execution_id FROM concurrency_slots head
    WHERE head.namespace = ?1 AND head.flow_id = ?2 AND head.state = 'queued'
      AND (SELECT count(*) FROM concurrency_slots r
           WHERE r.namespace = ?1 AND r.flow_id = ?2 AND r.state = 'running') < head.slot_limit
      AND NOT EXISTS (
          SELECT 1 FROM concurrency_slots older
          WHERE older.namespace = ?1 AND older.flow_id = ?2 AND older.state = 'queued'
            AND (older.queued_at, older.execution_id) < (head.queued_at, head.execution_id))
)
RETURNING execution_id
