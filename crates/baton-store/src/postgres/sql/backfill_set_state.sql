UPDATE backfills SET state = $3, updated_at = now()
WHERE id = $1 AND state = ANY($2::text[])
RETURNING id
