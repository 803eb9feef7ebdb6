-- SQLite's single writer already serializes slot decisions (`BEGIN IMMEDIATE`); the row is
-- kept so both schemas hold the same rows.
INSERT INTO concurrency_locks (namespace, flow_id) VALUES (?1, ?2)
ON CONFLICT (namespace, flow_id) DO NOTHING
