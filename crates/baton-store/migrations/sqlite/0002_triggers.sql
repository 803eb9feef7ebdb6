-- See the Postgres migration for what each column means. Times are microseconds since the epoch.
CREATE TABLE triggers (
    namespace          TEXT    NOT NULL,
    flow_id            TEXT    NOT NULL,
    trigger_id         TEXT    NOT NULL,
    flow_revision      INTEGER NOT NULL CHECK (flow_revision > 0),
    definition         TEXT    NOT NULL CHECK (json_type(definition) = 'object'),
    fingerprint        TEXT    NOT NULL,
    next_fire_at       INTEGER,
    last_fire_at       INTEGER,
    last_execution_id  TEXT,
    awaiting_execution INTEGER NOT NULL DEFAULT 0 CHECK (awaiting_execution IN (0, 1)),
    disabled           INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (namespace, flow_id, trigger_id),
    CHECK (NOT awaiting_execution OR last_execution_id IS NOT NULL)
) STRICT;

CREATE TABLE trigger_flows (
    namespace TEXT    NOT NULL,
    flow_id   TEXT    NOT NULL,
    revision  INTEGER NOT NULL CHECK (revision > 0),
    PRIMARY KEY (namespace, flow_id)
) STRICT;

CREATE TABLE trigger_fires (
    namespace    TEXT    NOT NULL,
    flow_id      TEXT    NOT NULL,
    trigger_id   TEXT    NOT NULL,
    fire_date    INTEGER NOT NULL,
    origin       TEXT    NOT NULL DEFAULT '',
    execution_id TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (namespace, flow_id, trigger_id, fire_date, origin)
) STRICT;
CREATE INDEX trigger_fires_origin_idx ON trigger_fires (origin) WHERE origin <> '';

CREATE TABLE backfills (
    id           TEXT    PRIMARY KEY,
    namespace    TEXT    NOT NULL,
    flow_id      TEXT    NOT NULL,
    trigger_id   TEXT    NOT NULL,
    start_at     INTEGER NOT NULL,
    end_at       INTEGER NOT NULL CHECK (end_at >= start_at),
    next_fire_at INTEGER,
    inputs       TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(inputs) = 'object'),
    labels       TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(labels) = 'object'),
    state        TEXT    NOT NULL CHECK (state IN ('RUNNING', 'PAUSED', 'CANCELLED', 'DONE')),
    total        INTEGER NOT NULL CHECK (total >= 0),
    created      INTEGER NOT NULL DEFAULT 0 CHECK (created >= 0 AND created <= total),
    execution_id TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX backfills_active_idx ON backfills (namespace, flow_id, trigger_id)
    WHERE state IN ('RUNNING', 'PAUSED');
CREATE INDEX backfills_trigger_idx ON backfills (namespace, flow_id, trigger_id, created_at DESC);
