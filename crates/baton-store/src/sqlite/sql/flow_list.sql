-- The latest revision of each flow, if it is not a tombstone.
SELECT namespace, id, revision, source, disabled, deleted, created_at
FROM flows f
WHERE revision = (SELECT max(revision) FROM flows g WHERE g.namespace = f.namespace AND g.id = f.id)
  AND NOT deleted
  AND (?1 IS NULL OR namespace = ?1 OR substr(namespace, 1, length(?1) + 1) = ?1 || '.')
  AND (?2 IS NULL OR (namespace, id) > (?2, ?3))
ORDER BY namespace, id
LIMIT ?4
