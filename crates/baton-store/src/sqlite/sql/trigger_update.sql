UPDATE triggers
SET next_fire_at = ?4, last_fire_at = ?5, last_execution_id = ?6, awaiting_execution = ?7,
    disabled = ?8, updated_at = ?9
WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id = ?3
