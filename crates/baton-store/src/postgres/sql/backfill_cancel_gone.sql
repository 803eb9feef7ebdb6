-- Cancels the active backfills of the synced flows ($1, $2) whose trigger is not among the kept
-- keys ($3–$5).
UPDATE backfills b SET state = 'CANCELLED', updated_at = now()
FROM unnest($1::text[], $2::text[]) AS s(namespace, flow_id)
WHERE b.namespace = s.namespace AND b.flow_id = s.flow_id
  AND b.state IN ('RUNNING', 'PAUSED')
  AND NOT EXISTS (
      SELECT 1 FROM unnest($3::text[], $4::text[], $5::text[]) AS k(namespace, flow_id, trigger_id)
      WHERE k.namespace = b.namespace AND k.flow_id = b.flow_id AND k.trigger_id = b.trigger_id)
