-- Under the flow's lock: the oldest queued execution takes a slot if fewer than its limit run.
-- Returns nothing when the queue is empty or the head must keep waiting (first in, first out:
-- nobody overtakes it).
WITH running AS (
    SELECT count(*) AS n FROM concurrency_slots
    WHERE namespace = $1 AND flow_id = $2 AND state = 'running'
), head AS (
    SELECT execution_id, slot_limit FROM concurrency_slots
    WHERE namespace = $1 AND flow_id = $2 AND state = 'queued'
    ORDER BY queued_at, execution_id
    LIMIT 1
)
UPDATE concurrency_slots s SET state = 'running'
FROM head, running
WHERE s.execution_id = head.execution_id AND running.n < head.slot_limit
RETURNING s.execution_id
