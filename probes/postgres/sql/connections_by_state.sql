-- Who holds the client connections: database, user, application and state.
SELECT datname, usename, application_name, COALESCE(state, 'unknown') AS state, count(*)::int AS connections
FROM pg_catalog.pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2, 3, 4
ORDER BY connections DESC
LIMIT 20
