-- Open transactions and everything that holds back the xmin horizon (what VACUUM may
-- clean): sessions, prepared transactions and replication slots. age(xid) counts the
-- transactions since; it reads no table.
SELECT 'session' AS holder, a.pid::text AS name, a.backend_type, a.state, a.usename AS owner, a.application_name,
       EXTRACT(epoch FROM pg_catalog.clock_timestamp() - a.xact_start)::float8 AS age_seconds,
       -- A session holds the horizon back with its snapshot (backend_xmin) or its own xid.
       GREATEST(pg_catalog.age(a.backend_xmin), pg_catalog.age(a.backend_xid)) AS xmin_age,
       a.query
FROM pg_catalog.pg_stat_activity AS a
WHERE a.xact_start IS NOT NULL
  AND a.pid <> pg_catalog.pg_backend_pid()
  AND (%(all_databases)s OR a.datname = pg_catalog.current_database())
UNION ALL
SELECT 'prepared transaction', p.gid, NULL, 'prepared', p.owner::text, NULL,
       EXTRACT(epoch FROM pg_catalog.clock_timestamp() - p.prepared)::float8,
       pg_catalog.age(p.transaction), NULL
FROM pg_catalog.pg_prepared_xacts AS p
UNION ALL
SELECT 'replication slot', s.slot_name::text, NULL, CASE WHEN s.active THEN 'active' ELSE 'inactive' END,
       NULL, s.slot_type, NULL,
       GREATEST(pg_catalog.age(s.xmin), pg_catalog.age(s.catalog_xmin)), NULL
FROM pg_catalog.pg_replication_slots AS s
WHERE s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL
ORDER BY age_seconds DESC NULLS LAST
