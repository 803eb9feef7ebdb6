-- Step messages carry the execution id as their key, dispatch messages in their payload.
DELETE FROM queue_messages
WHERE key IN (SELECT value FROM json_each(?1))
   OR json_extract(payload, '$.executionId') IN (SELECT value FROM json_each(?1))
