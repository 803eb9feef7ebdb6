-- Flow concurrency limits (`concurrency: {limit, behavior}`) and the flow-change counter that
-- flow triggers watch.

-- One row per flow whose slots were ever decided on. Every decision about a flow's slots
-- (take one, queue, free one and promote the next) locks this row first, in the transaction
-- that changes the execution's state, so executors on several hosts decide one after another
-- and the count of running slots below is exact.
CREATE TABLE concurrency_locks (
    namespace TEXT NOT NULL,
    flow_id   TEXT NOT NULL,
    PRIMARY KEY (namespace, flow_id)
);

-- A slot held ('running') or waited for ('queued') by one execution. The row goes away with
-- the execution's terminal state, in the same transaction.
CREATE TABLE concurrency_slots (
    execution_id UUID        PRIMARY KEY REFERENCES executions (id) ON DELETE CASCADE,
    namespace    TEXT        NOT NULL,
    flow_id      TEXT        NOT NULL,
    state        TEXT        NOT NULL CHECK (state IN ('running', 'queued')),
    -- The limit of the execution's flow revision: a queued execution is promoted only while
    -- fewer than this many run.
    slot_limit   INTEGER     NOT NULL CHECK (slot_limit > 0),
    -- First in, first out: the queue is ordered by (queued_at, execution_id).
    queued_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX concurrency_slots_flow_idx
    ON concurrency_slots (namespace, flow_id, state, queued_at, execution_id);

-- Grows on every change to `flows`, so an executor knows when its index of flow triggers is
-- stale with one primary-key read.
CREATE TABLE flow_changes (
    singleton  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    generation BIGINT  NOT NULL
);
INSERT INTO flow_changes (singleton, generation) VALUES (TRUE, 0);

CREATE FUNCTION baton_flows_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE flow_changes SET generation = generation + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER flows_changed AFTER INSERT OR UPDATE OR DELETE ON flows
    FOR EACH STATEMENT EXECUTE FUNCTION baton_flows_changed();
