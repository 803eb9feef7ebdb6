-- Times are INTEGER microseconds since the Unix epoch (sortable, exact); ids and JSON are TEXT.
CREATE TABLE flows (
    namespace  TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    revision   INTEGER NOT NULL CHECK (revision > 0),
    source     TEXT    NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, id, revision)
) STRICT;

CREATE TABLE executions (
    id            TEXT    PRIMARY KEY,
    namespace     TEXT    NOT NULL,
    flow_id       TEXT    NOT NULL,
    flow_revision INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('CREATED', 'QUEUED', 'RUNNING', 'PAUSED',
                      'RETRYING', 'KILLING', 'SUCCESS', 'WARNING', 'FAILED', 'KILLED', 'CANCELLED',
                      'SKIPPED')),
    labels        TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(labels) = 'object'),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    version       INTEGER NOT NULL CHECK (version > 0),
    document      TEXT    NOT NULL CHECK (json_valid(document))
) STRICT;
CREATE INDEX executions_created_idx ON executions (created_at DESC, id DESC);
CREATE INDEX executions_flow_created_idx
    ON executions (namespace, flow_id, created_at DESC, id DESC);
CREATE INDEX executions_state_created_idx ON executions (state, created_at DESC, id DESC);

CREATE TABLE queue_messages (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    queue            TEXT    NOT NULL CHECK (length(queue) BETWEEN 1 AND 200),
    key              TEXT,
    payload          TEXT    NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    run_at           INTEGER NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'available'
                         CHECK (state IN ('available', 'claimed')),
    attempt          INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    consumer_id      TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    CHECK ((state = 'claimed') = (consumer_id IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (state = 'claimed' OR (consumer_id IS NULL AND lease_expires_at IS NULL))
) STRICT;
CREATE INDEX queue_messages_claim_idx
    ON queue_messages (queue, priority, run_at, id) WHERE state = 'available';
CREATE INDEX queue_messages_key_idx ON queue_messages (queue, key, id) WHERE key IS NOT NULL;
CREATE INDEX queue_messages_lease_idx
    ON queue_messages (lease_expires_at) WHERE state = 'claimed';

-- SQLite has one writer at a time, so ids commit in order and the cursor is the id alone.
CREATE TABLE logs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT    NOT NULL,
    task_run_id  TEXT,
    attempt      INTEGER NOT NULL DEFAULT 0,
    level        TEXT    NOT NULL CHECK (level IN ('ERROR', 'WARN', 'INFO', 'DEBUG', 'TRACE')),
    timestamp    INTEGER NOT NULL,
    message      TEXT    NOT NULL
) STRICT;
CREATE INDEX logs_execution_idx ON logs (execution_id, id);

CREATE TABLE kv (
    namespace  TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    expires_at INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) STRICT;
