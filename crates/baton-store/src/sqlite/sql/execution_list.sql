-- ?3 is a JSON array of states, ?6 a JSON object of labels that must all match.
SELECT id, namespace, flow_id, flow_revision, state, labels, created_at, updated_at, ended_at, version, document
FROM executions e
-- A namespace matches itself and its children (company matches company.team), as Kestra.
WHERE (?1 IS NULL OR namespace = ?1 OR substr(namespace, 1, length(?1) + 1) = ?1 || '.')
  AND (?2 IS NULL OR flow_id = ?2)
  AND (json_array_length(?3) = 0 OR state IN (SELECT value FROM json_each(?3)))
  AND (?4 IS NULL OR created_at >= ?4)
  AND (?5 IS NULL OR created_at < ?5)
  AND NOT EXISTS (
      SELECT 1 FROM json_each(?6) AS wanted
      WHERE NOT EXISTS (
          SELECT 1 FROM json_each(e.labels) AS have
          WHERE have.key = wanted.key AND have.value = wanted.value))
  AND (?7 IS NULL OR (created_at, id) < (?7, ?8))
ORDER BY created_at DESC, id DESC
LIMIT ?9
