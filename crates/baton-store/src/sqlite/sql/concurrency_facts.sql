-- This execution's row, the slots held, and how many wait before it.
SELECT
    (SELECT state FROM concurrency_slots WHERE execution_id = ?3) AS mine,
    (SELECT count(*) FROM concurrency_slots
      WHERE namespace = ?1 AND flow_id = ?2 AND state = 'running') AS running,
    (SELECT count(*) FROM concurrency_slots q
      WHERE q.namespace = ?1 AND q.flow_id = ?2 AND q.state = 'queued'
        AND (q.queued_at, q.execution_id) < (
            coalesce((SELECT queued_at FROM concurrency_slots WHERE execution_id = ?3), ?4), ?3)
    ) AS queued_ahead
