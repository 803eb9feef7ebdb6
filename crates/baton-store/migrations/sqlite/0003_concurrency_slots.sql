-- Flow concurrency limits (`concurrency: {limit, behavior}`) and the flow-change counter that
-- flow triggers watch. SQLite has one writer at a time (`BEGIN IMMEDIATE`), so the lock rows
-- Postgres needs are kept only to keep both schemas alike.

CREATE TABLE concurrency_locks (
    namespace TEXT NOT NULL,
    flow_id   TEXT NOT NULL,
    PRIMARY KEY (namespace, flow_id)
) STRICT;

-- A slot held ('running') or waited for ('queued') by one execution.
CREATE TABLE concurrency_slots (
    execution_id TEXT    PRIMARY KEY REFERENCES executions (id) ON DELETE CASCADE,
    namespace    TEXT    NOT NULL,
    flow_id      TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('running', 'queued')),
    slot_limit   INTEGER NOT NULL CHECK (slot_limit > 0),
    -- Microseconds since the epoch; the queue is ordered by (queued_at, execution_id).
    queued_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX concurrency_slots_flow_idx
    ON concurrency_slots (namespace, flow_id, state, queued_at, execution_id);

CREATE TABLE flow_changes (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    generation INTEGER NOT NULL
) STRICT;
INSERT INTO flow_changes (singleton, generation) VALUES (1, 0);

CREATE TRIGGER flows_changed_insert AFTER INSERT ON flows
BEGIN
    UPDATE flow_changes SET generation = generation + 1;
END;
CREATE TRIGGER flows_changed_update AFTER UPDATE ON flows
BEGIN
    UPDATE flow_changes SET generation = generation + 1;
END;
CREATE TRIGGER flows_changed_delete AFTER DELETE ON flows
BEGIN
    UPDATE flow_changes SET generation = generation + 1;
END;
