-- Runs with plan_cache_mode = force_custom_plan, so the NULL tests fold away and the
-- remaining predicates can use the indexes.
SELECT id, namespace, flow_id, flow_revision, state, labels, created_at, updated_at, ended_at, version, document
FROM executions
-- A namespace matches itself and its children (company matches company.team), as Kestra.
WHERE ($1::text IS NULL OR namespace = $1 OR starts_with(namespace, $1 || '.'))
  AND ($2::text IS NULL OR flow_id = $2)
  AND (cardinality($3::text[]) = 0 OR state = ANY($3))
  AND ($4::timestamptz IS NULL OR created_at >= $4)
  AND ($5::timestamptz IS NULL OR created_at < $5)
  AND labels @> $6
  AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8))
ORDER BY created_at DESC, id DESC
LIMIT $9
