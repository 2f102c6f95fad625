-- Sessions waiting on heavyweight locks, the sessions blocking them, and what each
-- wants or holds, in one snapshot. pg_blocking_pids() runs only for sessions that
-- already wait on a lock: it takes every lock-manager partition lock, so calling it
-- for every backend would add load to a server that is already in trouble.
-- Relation names come from ::regclass, which reads the catalog without locking the table.
WITH waiting AS (
    SELECT a.pid, pg_catalog.pg_blocking_pids(a.pid) AS blocked_by
    FROM pg_catalog.pg_stat_activity AS a
    WHERE a.wait_event_type = 'Lock'
      AND a.pid <> pg_catalog.pg_backend_pid()
      AND (%(all_databases)s OR a.datname = pg_catalog.current_database())
),
involved AS (
    SELECT pid FROM waiting
    UNION
    SELECT blocker FROM waiting, LATERAL pg_catalog.unnest(waiting.blocked_by) AS blocker
),
locks AS MATERIALIZED (
    SELECT l.pid, l.granted, l.mode, l.locktype, l.waitstart,
           CASE WHEN l.relation IS NULL THEN NULL
                WHEN l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d
                                   WHERE d.datname = pg_catalog.current_database())
                THEN l.relation::pg_catalog.regclass::text
                ELSE 'relation ' || l.relation || ' in database ' || l.database END AS relation
    FROM pg_catalog.pg_locks AS l
    WHERE l.pid IN (SELECT pid FROM involved)
      AND (NOT l.granted OR (l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'))
),
held AS (
    SELECT pid, pg_catalog.string_agg(relation, ', ' ORDER BY relation) AS relations
    FROM locks WHERE granted GROUP BY pid
)
SELECT i.pid,
       w.blocked_by,
       a.state,
       a.datname,
       a.application_name,
       EXTRACT(epoch FROM pg_catalog.now() - a.xact_start)::float8 AS transaction_age_seconds,
       EXTRACT(epoch FROM pg_catalog.clock_timestamp() - wanted.waitstart)::float8 AS wait_seconds,
       wanted.mode AS waiting_for_mode,
       wanted.relation AS waiting_for_relation,
       held.relations AS holds_access_exclusive_on,
       a.query
FROM involved AS i
LEFT JOIN pg_catalog.pg_stat_activity AS a ON a.pid = i.pid
LEFT JOIN waiting AS w ON w.pid = i.pid
LEFT JOIN locks AS wanted ON wanted.pid = i.pid AND NOT wanted.granted
LEFT JOIN held ON held.pid = i.pid
