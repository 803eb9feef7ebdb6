-- The time windows of Flow triggers' `preconditions`: which conditions upstream executions met
-- so far. One row per trigger, locked by the step that records into it, so executors that
-- record at once take turns and a window fires once. `state` is the executor's JSON (NULL:
-- no window open).
CREATE TABLE flow_trigger_windows (
    namespace  TEXT        NOT NULL,
    flow_id    TEXT        NOT NULL,
    trigger_id TEXT        NOT NULL,
    state      JSONB,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, flow_id, trigger_id)
);
