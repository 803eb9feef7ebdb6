UPDATE queue_messages
SET state = 'available', consumer_id = NULL, lease_expires_at = NULL, run_at = $2
WHERE id = $1 AND state = 'claimed'
RETURNING queue
