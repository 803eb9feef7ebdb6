UPDATE flow_trigger_windows SET state = ?4, updated_at = ?5
WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id = ?3
