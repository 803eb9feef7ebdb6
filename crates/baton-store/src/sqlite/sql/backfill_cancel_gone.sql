-- The active backfills of triggers a flow no longer has (?3: JSON array of the ids it has).
UPDATE backfills SET state = 'CANCELLED', updated_at = ?4
WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id NOT IN (SELECT value FROM json_each(?3))
  AND state IN ('RUNNING', 'PAUSED')
