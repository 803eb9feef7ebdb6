-- The latest revision of each flow (tombstones included) that the trigger rows do not reflect,
-- after flow (?2, ?3) when given: a caller going through them all reads each page from where the
-- last one ended instead of skipping every flow before it again. Anti-joins, so the flows'
-- key order is walked and the walk stops at the limit, with or without table statistics (a
-- scheduler often starts right after flows were deployed in bulk).
SELECT f.namespace, f.id, f.revision, f.source, f.disabled, f.deleted, f.created_at
FROM flows f
WHERE (?2 IS NULL OR (f.namespace, f.id) > (?2, ?3))
  AND NOT EXISTS (SELECT 1 FROM flows g
                  WHERE g.namespace = f.namespace AND g.id = f.id AND g.revision > f.revision)
  AND NOT EXISTS (SELECT 1 FROM trigger_flows s
                  WHERE s.namespace = f.namespace AND s.flow_id = f.id
                    AND s.revision >= f.revision)
ORDER BY f.namespace, f.id
LIMIT ?1
