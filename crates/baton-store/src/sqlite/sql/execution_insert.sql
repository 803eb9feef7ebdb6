INSERT INTO executions
    (id, namespace, flow_id, flow_revision, state, labels, created_at, updated_at, ended_at,
     version, document)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10)
RETURNING id, namespace, flow_id, flow_revision, state, labels, created_at, updated_at, ended_at, version, document
