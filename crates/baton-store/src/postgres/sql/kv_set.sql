INSERT INTO kv (namespace, key, value, expires_at, updated_at)
VALUES ($1, $2, $3, now() + $4::float8 * interval '1 millisecond', now())
ON CONFLICT (namespace, key)
DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, updated_at = now()
