SELECT id, namespace, flow_id, flow_revision, state, labels, created_at, updated_at, ended_at, version, document FROM executions WHERE id = $1
