INSERT INTO queue_messages (queue, key, payload, priority, run_at)
SELECT queue, key, payload, priority, COALESCE(run_at, now())
FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::int2[], $5::timestamptz[])
    AS m(queue, key, payload, priority, run_at)
RETURNING id
