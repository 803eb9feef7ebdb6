-- The time windows of Flow triggers' `preconditions` (see the Postgres migration).
CREATE TABLE flow_trigger_windows (
    namespace  TEXT    NOT NULL,
    flow_id    TEXT    NOT NULL,
    trigger_id TEXT    NOT NULL,
    state      TEXT    CHECK (state IS NULL OR json_valid(state)),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, flow_id, trigger_id)
) STRICT;
