-- The latest revision of each flow, if it is not a tombstone.
SELECT namespace, id, revision, source, disabled, deleted, created_at
FROM flows f
WHERE revision = (SELECT max(revision) FROM flows g WHERE g.namespace = f.namespace AND g.id = f.id)
  AND NOT deleted
  AND ($1::text IS NULL OR namespace = $1 OR starts_with(namespace, $1 || '.'))
  AND ($2::text IS NULL OR (namespace, id) > ($2, $3))
ORDER BY namespace, id
LIMIT $4
