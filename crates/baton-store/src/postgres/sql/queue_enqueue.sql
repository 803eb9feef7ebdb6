-- A message with a consumer is inserted already claimed by it (attempt 1, leased).
INSERT INTO queue_messages (queue, key, payload, priority, run_at, state, consumer_id, attempt,
                            lease_expires_at)
SELECT queue, key, payload, priority, COALESCE(run_at, now()),
       CASE WHEN consumer_id IS NULL THEN 'available' ELSE 'claimed' END,
       consumer_id,
       CASE WHEN consumer_id IS NULL THEN 0 ELSE 1 END,
       CASE WHEN consumer_id IS NULL THEN NULL
            ELSE now() + lease_ms * interval '1 millisecond' END
FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::int2[], $5::timestamptz[], $6::text[],
            $7::float8[]) WITH ORDINALITY
    AS m(queue, key, payload, priority, run_at, consumer_id, lease_ms, n)
ORDER BY n
RETURNING id
