UPDATE executions
SET state = $3, labels = $4, ended_at = $5, document = $6, flow_revision = $7,
    updated_at = now(), version = version + 1
WHERE id = $1 AND version = $2
RETURNING id, namespace, flow_id, flow_revision, state, labels, created_at, updated_at, ended_at, version, document
