SELECT count(*) FROM queue_messages WHERE queue = ?1
