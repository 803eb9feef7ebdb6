UPDATE flows SET disabled = ?4
WHERE namespace = ?1 AND id = ?2 AND revision = ?3
RETURNING namespace, id, revision, source, disabled, deleted, created_at
