UPDATE queue_messages
SET state = 'available', consumer_id = NULL, lease_expires_at = NULL
WHERE state = 'claimed' AND lease_expires_at < ?1
RETURNING queue
