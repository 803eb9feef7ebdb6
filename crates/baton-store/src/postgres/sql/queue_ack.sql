DELETE FROM queue_messages WHERE id = ANY($1)
