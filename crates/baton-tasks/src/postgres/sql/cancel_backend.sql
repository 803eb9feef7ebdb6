-- Stops the query a killed task left running; the role may cancel its own sessions.
SELECT pg_cancel_backend($1)
