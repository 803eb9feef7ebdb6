-- execution_lock.sql, without the document when the caller holds version $2 already: the
-- CASE never reads (detoasts) a document it does not return.
SELECT id, namespace, flow_id, flow_revision, state, labels, created_at, updated_at, ended_at,
       version, CASE WHEN version = $2 THEN 'null'::jsonb ELSE document END AS document
FROM executions
WHERE id = $1
FOR UPDATE
