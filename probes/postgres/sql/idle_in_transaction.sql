-- Sessions idle inside an open transaction.
-- Idle time counts from state_change, when the session last finished a statement.
SELECT a.pid, a.state, a.usename, a.application_name,
       EXTRACT(epoch FROM pg_catalog.clock_timestamp() - a.state_change)::float8 AS idle_seconds,
       EXTRACT(epoch FROM pg_catalog.clock_timestamp() - a.xact_start)::float8 AS transaction_age_seconds,
       a.query
FROM pg_catalog.pg_stat_activity AS a
WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')
  AND a.pid <> pg_catalog.pg_backend_pid()
  AND (%(all_databases)s OR a.datname = pg_catalog.current_database())
ORDER BY idle_seconds DESC
