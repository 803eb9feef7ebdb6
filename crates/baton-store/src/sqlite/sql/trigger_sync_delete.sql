-- ?3 is a JSON array of the trigger ids the flow still has.
DELETE FROM triggers
WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id NOT IN (SELECT value FROM json_each(?3))
