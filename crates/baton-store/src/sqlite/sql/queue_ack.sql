-- ?1 is a JSON array of ids.
DELETE FROM queue_messages WHERE id IN (SELECT value FROM json_each(?1))
