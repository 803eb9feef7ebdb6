DELETE FROM kv WHERE namespace = $1 AND key = $2
