-- Of the given ids, those whose execution has ended or does not exist.
SELECT ids.id
FROM unnest($1::uuid[]) AS ids(id)
WHERE NOT EXISTS (SELECT 1 FROM executions e WHERE e.id = ids.id AND e.ended_at IS NULL)
