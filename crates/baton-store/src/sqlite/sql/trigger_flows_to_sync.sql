-- The latest revision of each flow (tombstones included) that the trigger rows do not reflect.
SELECT f.namespace, f.id, f.revision, f.source, f.disabled, f.deleted, f.created_at
FROM flows f
LEFT JOIN trigger_flows s ON s.namespace = f.namespace AND s.flow_id = f.id
WHERE f.revision = (SELECT max(revision) FROM flows g WHERE g.namespace = f.namespace AND g.id = f.id)
  AND (s.revision IS NULL OR s.revision < f.revision)
ORDER BY f.namespace, f.id
LIMIT ?1
