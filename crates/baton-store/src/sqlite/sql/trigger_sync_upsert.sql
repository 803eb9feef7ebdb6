-- A row whose fingerprint is unchanged keeps its schedule; a new or changed one starts at the
-- given date.
INSERT INTO triggers (namespace, flow_id, trigger_id, flow_revision, definition, fingerprint,
                      next_fire_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (namespace, flow_id, trigger_id) DO UPDATE
SET flow_revision = excluded.flow_revision,
    definition = excluded.definition,
    next_fire_at = CASE WHEN triggers.fingerprint = excluded.fingerprint
                        THEN triggers.next_fire_at ELSE excluded.next_fire_at END,
    fingerprint = excluded.fingerprint,
    updated_at = excluded.updated_at
