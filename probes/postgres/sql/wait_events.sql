-- One sample of where active sessions spend their time: each client backend running a
-- statement, by wait event and statement. No wait event means the backend is on CPU (or in
-- a wait PostgreSQL does not instrument). Reads pg_stat_activity only: no lock is taken.
SELECT COALESCE(a.wait_event_type, 'CPU') AS wait_event_type, COALESCE(a.wait_event, 'CPU') AS wait_event,
       pg_catalog.left(a.query, 200) AS query, count(*)::int AS sessions
FROM pg_catalog.pg_stat_activity AS a
WHERE a.state = 'active' AND a.backend_type = 'client backend'
  AND a.pid <> pg_catalog.pg_backend_pid()
  AND (%(all_databases)s OR a.datname = pg_catalog.current_database())
GROUP BY 1, 2, 3
ORDER BY sessions DESC
LIMIT 100
