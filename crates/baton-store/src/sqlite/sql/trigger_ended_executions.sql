-- ?1 is a JSON array of ids; returns those whose execution has ended or does not exist.
SELECT ids.value
FROM json_each(?1) AS ids
WHERE NOT EXISTS (SELECT 1 FROM executions e WHERE e.id = ids.value AND e.ended_at IS NULL)
