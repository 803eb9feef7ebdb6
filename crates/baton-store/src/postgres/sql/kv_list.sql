SELECT namespace, key, value, expires_at, updated_at
FROM kv
WHERE namespace = $1 AND (expires_at IS NULL OR expires_at > now())
ORDER BY key
