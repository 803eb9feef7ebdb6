-- The active backfills of triggers a flow no longer has.
UPDATE backfills SET state = 'CANCELLED', updated_at = now()
WHERE namespace = $1 AND flow_id = $2 AND NOT (trigger_id = ANY($3::text[]))
  AND state IN ('RUNNING', 'PAUSED')
