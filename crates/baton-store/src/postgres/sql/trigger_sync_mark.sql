-- Records the revisions as synced; returns the flows this call syncs (a flow whose revision,
-- or a later one, was synced already is not returned).
INSERT INTO trigger_flows (namespace, flow_id, revision)
SELECT * FROM unnest($1::text[], $2::text[], $3::int4[])
ON CONFLICT (namespace, flow_id) DO UPDATE SET revision = EXCLUDED.revision
    WHERE trigger_flows.revision < EXCLUDED.revision
RETURNING namespace, flow_id
