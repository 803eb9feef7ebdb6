-- Wakes consumers after the enqueuing transaction committed. NOTIFY takes a database-wide lock
-- at commit and keeps it until the commit is on disk, so a notifying transaction that waits for
-- the disk makes every other notifier wait behind its flush: commits stop sharing flushes. This
-- statement writes nothing worth a flush, so its commit does not wait for the disk.
SELECT set_config('synchronous_commit', 'off', true), pg_notify('baton_queue', queue)
FROM unnest($1::text[]) AS q(queue)
