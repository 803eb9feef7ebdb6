-- Deletes the rows of the synced flows ($1, $2) that are not among the kept keys ($3–$5).
DELETE FROM triggers t
USING unnest($1::text[], $2::text[]) AS s(namespace, flow_id)
WHERE t.namespace = s.namespace AND t.flow_id = s.flow_id
  AND NOT EXISTS (
      SELECT 1 FROM unnest($3::text[], $4::text[], $5::text[]) AS k(namespace, flow_id, trigger_id)
      WHERE k.namespace = t.namespace AND k.flow_id = t.flow_id AND k.trigger_id = t.trigger_id)
