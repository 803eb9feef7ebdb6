SELECT namespace, id, revision, source, disabled, deleted, created_at
FROM flows
WHERE namespace = $1 AND id = $2
ORDER BY revision DESC
LIMIT 1
