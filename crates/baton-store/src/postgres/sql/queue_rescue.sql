-- The attempt counter already counts the expired claim; the next claim adds one.
UPDATE queue_messages
SET state = 'available', consumer_id = NULL, lease_expires_at = NULL
WHERE state = 'claimed' AND lease_expires_at < now()
RETURNING queue
