INSERT INTO kv (namespace, key, value, expires_at, updated_at)
VALUES (?1, ?2, ?3, ?4 + ?5, ?5)
ON CONFLICT (namespace, key)
DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, updated_at = ?5
