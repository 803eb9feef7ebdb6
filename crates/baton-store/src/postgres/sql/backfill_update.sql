UPDATE backfills
SET next_fire_at = $2, created = $3, execution_id = $4, state = $5, updated_at = now()
WHERE id = $1
