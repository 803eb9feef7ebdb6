-- Fires many Schedule trigger dates in one statement, so one commit (see TriggerStore::
-- fire_schedules). A date fires only if its row is not held by another scheduler, still says
-- what the scheduler armed ($4-$6), is enabled and does not wait for a running execution
-- ($15: the terminal states), and its fire key is new; nothing is written for the others.
-- `locked` is read once (a locking CTE is materialized), so every later part sees the same
-- rows, and each row is updated once. The statement may run in a transaction opened shortly
-- before the dates it fires and committed at them: an execution's times are its fire date's,
-- not now() (the transaction's start).
WITH fire AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int4[],
                $6::jsonb[], $7::timestamptz[], $8::timestamptz[], $9::uuid[], $10::int4[],
                $11::text[], $12::jsonb[], $13::timestamptz[], $14::timestamptz[],
                $16::jsonb[])
        AS f(namespace, flow_id, trigger_id, armed_next, armed_revision, armed_definition,
             fire_date, next_fire_at, execution_id, execution_revision, state, labels,
             created_at, ended_at, document)
),
locked AS (
    SELECT f.*
    FROM triggers t
    JOIN fire f
        ON t.namespace = f.namespace AND t.flow_id = f.flow_id AND t.trigger_id = f.trigger_id
    LEFT JOIN executions e ON e.id = t.last_execution_id
    WHERE t.next_fire_at = f.armed_next
      AND t.flow_revision = f.armed_revision
      AND t.definition = f.armed_definition
      AND NOT t.disabled
      AND (NOT t.awaiting_execution OR e.state IS NULL OR e.state = ANY ($15::text[]))
    FOR UPDATE OF t SKIP LOCKED
),
fired AS (
    INSERT INTO trigger_fires (namespace, flow_id, trigger_id, fire_date, origin, execution_id)
    SELECT namespace, flow_id, trigger_id, fire_date, '', execution_id FROM locked
    ON CONFLICT DO NOTHING
    RETURNING execution_id
),
created AS (
    INSERT INTO executions
        (id, namespace, flow_id, flow_revision, state, labels, created_at, updated_at, ended_at,
         version, document)
    SELECT l.execution_id, l.namespace, l.flow_id, l.execution_revision, l.state, l.labels,
           l.created_at, GREATEST(now(), l.created_at), l.ended_at, 1, l.document
    FROM locked l
    JOIN fired USING (execution_id)
    RETURNING id
),
-- As queue_enqueue.sql: a message with a consumer is inserted already claimed by it.
queued AS (
    INSERT INTO queue_messages (queue, key, payload, priority, run_at, state, consumer_id,
                                attempt, lease_expires_at)
    SELECT m.queue, m.key, m.payload, m.priority, COALESCE(m.run_at, now()),
           CASE WHEN m.consumer_id IS NULL THEN 'available' ELSE 'claimed' END,
           m.consumer_id,
           CASE WHEN m.consumer_id IS NULL THEN 0 ELSE 1 END,
           CASE WHEN m.consumer_id IS NULL THEN NULL
                ELSE now() + m.lease_ms * interval '1 millisecond' END
    FROM unnest($17::uuid[], $18::text[], $19::text[], $20::jsonb[], $21::int2[],
                $22::timestamptz[], $23::text[], $24::float8[]) WITH ORDINALITY
        AS m(execution_id, queue, key, payload, priority, run_at, consumer_id, lease_ms, n)
    JOIN fired USING (execution_id)
    ORDER BY m.n
    RETURNING id
),
moved AS (
    UPDATE triggers t
    SET next_fire_at = l.next_fire_at, last_fire_at = l.fire_date,
        last_execution_id = l.execution_id, awaiting_execution = TRUE, updated_at = now()
    FROM locked l
    JOIN fired USING (execution_id)
    WHERE t.namespace = l.namespace AND t.flow_id = l.flow_id AND t.trigger_id = l.trigger_id
    RETURNING t.namespace, t.flow_id, t.trigger_id, t.flow_revision, t.definition,
              t.fingerprint, t.next_fire_at, t.last_fire_at, t.last_execution_id, l.state,
              t.awaiting_execution, t.disabled, t.updated_at
)
SELECT namespace, flow_id, trigger_id, flow_revision, definition, fingerprint, next_fire_at,
       last_fire_at, last_execution_id, state AS last_execution_state, awaiting_execution,
       disabled, updated_at
FROM moved
