-- Flows: one row per revision. A delete adds a tombstone revision (deleted = true).
CREATE TABLE flows (
    namespace  TEXT        NOT NULL,
    id         TEXT        NOT NULL,
    revision   INTEGER     NOT NULL CHECK (revision > 0),
    source     TEXT        NOT NULL,
    disabled   BOOLEAN     NOT NULL DEFAULT FALSE,
    deleted    BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, id, revision)
);

-- Executions: indexed columns plus the whole execution as an opaque document.
CREATE TABLE executions (
    id            UUID        PRIMARY KEY,
    namespace     TEXT        NOT NULL,
    flow_id       TEXT        NOT NULL,
    flow_revision INTEGER     NOT NULL,
    state         TEXT        NOT NULL CHECK (state IN ('CREATED', 'QUEUED', 'RUNNING', 'PAUSED',
                      'RETRYING', 'KILLING', 'SUCCESS', 'WARNING', 'FAILED', 'KILLED', 'CANCELLED',
                      'SKIPPED')),
    labels        JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ,
    version       BIGINT      NOT NULL CHECK (version > 0),
    document      JSONB       NOT NULL
);
-- Keyset pagination, unfiltered and per flow (the two lists the UI shows most).
CREATE INDEX executions_created_idx ON executions (created_at DESC, id DESC);
CREATE INDEX executions_flow_created_idx
    ON executions (namespace, flow_id, created_at DESC, id DESC);
CREATE INDEX executions_state_created_idx ON executions (state, created_at DESC, id DESC);
CREATE INDEX executions_labels_idx ON executions USING GIN (labels jsonb_path_ops);

-- The work queue. A row lives from enqueue to ack; nothing else is kept.
CREATE TABLE queue_messages (
    id               BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue            TEXT        NOT NULL CHECK (length(queue) BETWEEN 1 AND 200),
    -- Messages with one key are delivered one at a time, oldest first.
    key              TEXT,
    payload          JSONB       NOT NULL,
    priority         SMALLINT    NOT NULL DEFAULT 0,
    run_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    state            TEXT        NOT NULL DEFAULT 'available'
                         CHECK (state IN ('available', 'claimed')),
    -- Number of claims so far; the current claim included.
    attempt          INTEGER     NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    consumer_id      TEXT,
    lease_expires_at TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((state = 'claimed') = (consumer_id IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (state = 'claimed' OR (consumer_id IS NULL AND lease_expires_at IS NULL))
);
-- Matches the claim: WHERE queue = $1 AND state = 'available' ORDER BY priority, run_at, id.
CREATE INDEX queue_messages_claim_idx
    ON queue_messages (queue, priority, run_at, id) WHERE state = 'available';
-- The per-key head check (is there an older message with my key?).
CREATE INDEX queue_messages_key_idx ON queue_messages (queue, key, id) WHERE key IS NOT NULL;
-- The rescuer: expired leases.
CREATE INDEX queue_messages_lease_idx
    ON queue_messages (lease_expires_at) WHERE state = 'claimed';

-- Logs. tx is the writing transaction's id: readers only return rows of finished transactions.
CREATE TABLE logs (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx           BIGINT      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    execution_id UUID        NOT NULL,
    task_run_id  TEXT,
    attempt      INTEGER     NOT NULL DEFAULT 0,
    level        TEXT        NOT NULL CHECK (level IN ('ERROR', 'WARN', 'INFO', 'DEBUG', 'TRACE')),
    timestamp    TIMESTAMPTZ NOT NULL,
    message      TEXT        NOT NULL
);
CREATE INDEX logs_execution_idx ON logs (execution_id, tx, id);

CREATE TABLE kv (
    namespace  TEXT        NOT NULL,
    key        TEXT        NOT NULL,
    value      JSONB       NOT NULL,
    expires_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, key)
);
