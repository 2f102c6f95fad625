-- Client connections against the slots ordinary users may take. This probe's own
-- connection is one of them.
SELECT (SELECT count(*) FROM pg_catalog.pg_stat_activity
        WHERE backend_type = 'client backend')::int AS client_backends,
       pg_catalog.current_setting('max_connections')::int AS max_connections,
       pg_catalog.current_setting('superuser_reserved_connections')::int AS superuser_reserved,
       0 AS reserved
