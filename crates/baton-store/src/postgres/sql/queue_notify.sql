-- One channel for every queue; the payload names the queue. Delivered at commit.
SELECT pg_notify('baton_queue', queue) FROM unnest($1::text[]) AS q(queue)
