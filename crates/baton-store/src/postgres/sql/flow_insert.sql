INSERT INTO flows (namespace, id, revision, source, disabled, deleted)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING namespace, id, revision, source, disabled, deleted, created_at
