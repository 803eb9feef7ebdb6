-- A step's whole write in one round trip: the execution (if its version is still $2), the
-- messages the step produced (as queue_enqueue.sql inserts them) and the ack of the messages
-- that caused it. When the version check fails nothing is inserted or deleted and `version`
-- is NULL (the caller then tells a conflict from a missing execution, and rolls back).
WITH written AS (
    UPDATE executions
    SET state = $3, labels = $4, ended_at = $5, document = $6, flow_revision = $7,
        updated_at = now(), version = version + 1
    WHERE id = $1 AND version = $2
    RETURNING version
), enqueued AS (
    INSERT INTO queue_messages (queue, key, payload, priority, run_at, state, consumer_id,
                                attempt, lease_expires_at)
    SELECT queue, key, payload, priority, COALESCE(run_at, now()),
           CASE WHEN consumer_id IS NULL THEN 'available' ELSE 'claimed' END,
           consumer_id,
           CASE WHEN consumer_id IS NULL THEN 0 ELSE 1 END,
           CASE WHEN consumer_id IS NULL THEN NULL
                ELSE now() + lease_ms * interval '1 millisecond' END
    FROM unnest($8::text[], $9::text[], $10::jsonb[], $11::int2[], $12::timestamptz[],
                $13::text[], $14::float8[]) WITH ORDINALITY
        AS m(queue, key, payload, priority, run_at, consumer_id, lease_ms, n)
    WHERE EXISTS (SELECT 1 FROM written)
    ORDER BY n
    RETURNING id
), acked AS (
    DELETE FROM queue_messages
    WHERE id = ANY($15) AND EXISTS (SELECT 1 FROM written)
)
-- Identity values only grow and rows go in in the messages' order: sorted ids are in order.
SELECT (SELECT version FROM written) AS version,
       ARRAY(SELECT id FROM enqueued ORDER BY id) AS ids
