-- Returns nothing when this revision (or a later one) was synced already.
INSERT INTO trigger_flows (namespace, flow_id, revision)
VALUES (?1, ?2, ?3)
ON CONFLICT (namespace, flow_id) DO UPDATE SET revision = excluded.revision
    WHERE trigger_flows.revision < excluded.revision
RETURNING revision
