-- Retention (`baton sys purge` and the retention job) looks for executions that ended before a
-- date and for logs written before one; without these it would read both tables whole.
CREATE INDEX executions_ended_idx ON executions (ended_at, id) WHERE ended_at IS NOT NULL;
CREATE INDEX logs_timestamp_idx ON logs (timestamp);
