UPDATE queue_messages
SET lease_expires_at = now() + $3::float8 * interval '1 millisecond'
WHERE id = ANY($2) AND consumer_id = $1 AND state = 'claimed'
RETURNING id
