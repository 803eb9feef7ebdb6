-- Schedule triggers: one row per (flow, trigger), synced from the flow's latest revision by the
-- schedulers, holding the state of its schedule.
CREATE TABLE triggers (
    namespace          TEXT        NOT NULL,
    flow_id            TEXT        NOT NULL,
    trigger_id         TEXT        NOT NULL,
    flow_revision      INTEGER     NOT NULL CHECK (flow_revision > 0),
    -- The trigger as the scheduler reads it (cron, zone, inputs…); opaque to the store.
    definition         JSONB       NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    -- Changes when what decides the fire dates changes: the schedule restarts, not replays.
    fingerprint        TEXT        NOT NULL,
    -- The next date to fire; NULL when the schedule never fires again.
    next_fire_at       TIMESTAMPTZ,
    last_fire_at       TIMESTAMPTZ,
    last_execution_id  UUID,
    -- The next fire waits for the last execution to end, then stopAfter is checked.
    awaiting_execution BOOLEAN     NOT NULL DEFAULT FALSE,
    -- Disabled through the API or by stopAfter.
    disabled           BOOLEAN     NOT NULL DEFAULT FALSE,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, flow_id, trigger_id),
    CHECK (NOT awaiting_execution OR last_execution_id IS NOT NULL)
);

-- The flow revision the triggers table reflects, for every flow (with schedules or not), so a
-- scheduler finds the flows to sync with one indexed comparison.
CREATE TABLE trigger_flows (
    namespace TEXT    NOT NULL,
    flow_id   TEXT    NOT NULL,
    revision  INTEGER NOT NULL CHECK (revision > 0),
    PRIMARY KEY (namespace, flow_id)
);

-- One row per fire date that created an execution. The key is what makes a date fire once,
-- whatever the number of schedulers: a second insert for it fails.
CREATE TABLE trigger_fires (
    namespace    TEXT        NOT NULL,
    flow_id      TEXT        NOT NULL,
    trigger_id   TEXT        NOT NULL,
    fire_date    TIMESTAMPTZ NOT NULL,
    -- '' for the schedule itself, the backfill's id for a backfill's fires.
    origin       TEXT        NOT NULL DEFAULT '',
    execution_id UUID        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, flow_id, trigger_id, fire_date, origin)
);
-- A backfill's progress: its fires' executions.
CREATE INDEX trigger_fires_origin_idx ON trigger_fires (origin) WHERE origin <> '';

-- Backfills: executions for past fire dates of a trigger, one at a time, in order.
CREATE TABLE backfills (
    id           UUID        PRIMARY KEY,
    namespace    TEXT        NOT NULL,
    flow_id      TEXT        NOT NULL,
    trigger_id   TEXT        NOT NULL,
    start_at     TIMESTAMPTZ NOT NULL,
    end_at       TIMESTAMPTZ NOT NULL CHECK (end_at >= start_at),
    -- The next date to create an execution for; NULL once every date has one.
    next_fire_at TIMESTAMPTZ,
    inputs       JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(inputs) = 'object'),
    labels       JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    state        TEXT        NOT NULL CHECK (state IN ('RUNNING', 'PAUSED', 'CANCELLED', 'DONE')),
    total        INTEGER     NOT NULL CHECK (total >= 0),
    created      INTEGER     NOT NULL DEFAULT 0 CHECK (created >= 0 AND created <= total),
    -- The last execution created: the next one waits for it to end.
    execution_id UUID,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- At most one running or paused backfill per trigger.
CREATE UNIQUE INDEX backfills_active_idx ON backfills (namespace, flow_id, trigger_id)
    WHERE state IN ('RUNNING', 'PAUSED');
CREATE INDEX backfills_trigger_idx ON backfills (namespace, flow_id, trigger_id, created_at DESC);
