-- Step messages carry the execution id as their key, dispatch messages in their payload.
DELETE FROM queue_messages
WHERE key = ANY($1::text[]) OR payload ->> 'executionId' = ANY($1::text[])
