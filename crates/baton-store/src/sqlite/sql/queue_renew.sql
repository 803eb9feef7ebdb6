UPDATE queue_messages
SET lease_expires_at = ?4 + ?3
WHERE id IN (SELECT value FROM json_each(?2)) AND consumer_id = ?1 AND state = 'claimed'
RETURNING id
