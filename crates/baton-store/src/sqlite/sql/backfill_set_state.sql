-- ?2 is a JSON array of the states the change applies to.
UPDATE backfills SET state = ?3, updated_at = ?4
WHERE id = ?1 AND state IN (SELECT value FROM json_each(?2))
RETURNING id
