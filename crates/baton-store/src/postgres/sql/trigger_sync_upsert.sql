-- A row whose fingerprint is unchanged keeps its schedule; a new or changed one starts at the
-- given date.
INSERT INTO triggers (namespace, flow_id, trigger_id, flow_revision, definition, fingerprint,
                      next_fire_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::jsonb[], $6::text[],
                     $7::timestamptz[])
ON CONFLICT (namespace, flow_id, trigger_id) DO UPDATE
SET flow_revision = EXCLUDED.flow_revision,
    definition = EXCLUDED.definition,
    next_fire_at = CASE WHEN triggers.fingerprint = EXCLUDED.fingerprint
                        THEN triggers.next_fire_at ELSE EXCLUDED.next_fire_at END,
    fingerprint = EXCLUDED.fingerprint,
    updated_at = now()
