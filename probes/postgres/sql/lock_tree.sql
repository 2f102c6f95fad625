-- Every lock someone waits for, one row per session holding or requesting it, and the
-- sessions involved, from one snapshot of the lock manager; incident_lab.blocking works
-- out who blocks whom from these rows with PostgreSQL's lock conflict table.
--
-- pg_catalog.pg_blocking_pids() is needed only where pg_locks cannot tell queue order. It
-- takes every lock-manager partition lock and copies the lock's whole queue, so calling
-- it for each of a thousand readers behind one migration copies a million entries on a
-- server already in trouble. It runs here only for strong requests (SHARE UPDATE
-- EXCLUSIVE and above: migrations, row locks, few per lock) and for members of a
-- parallel query's lock group. The weak requests (ACCESS SHARE, ROW SHARE, ROW
-- EXCLUSIVE: queries) never conflict with each other, only with holders and with strong
-- requests, so where a weak request stands follows from the strong requests' answers.
--
-- The session details come from pg_stat_activity in the same statement; relation names
-- from ::regclass, which reads the catalog without locking the table.
WITH locks AS MATERIALIZED (
    SELECT COALESCE(l.pid, 0) AS pid, l.mode, l.granted, l.locktype, l.database, l.relation,
           (l.locktype, l.database, l.relation, l.page, l.tuple, l.virtualxid, l.transactionid, l.classid,
            l.objid, l.objsubid)::text AS lock_key
    FROM pg_catalog.pg_locks AS l
),
contended AS MATERIALIZED (
    SELECT l.*
    FROM locks AS l
    WHERE NOT l.granted
       -- IS TRUE keeps this a hashed lookup: no row estimate can make it a nested loop.
       OR (l.lock_key IN (SELECT lock_key FROM locks WHERE NOT granted)) IS TRUE
),
activity AS MATERIALIZED (
    SELECT a.pid, a.leader_pid, a.datname, a.state, a.state_change, a.application_name, a.xact_start, a.query
    FROM pg_catalog.pg_stat_activity AS a
    WHERE (a.pid IN (SELECT pid FROM contended)) IS TRUE
),
here AS (
    SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database()
)
SELECT 'lock' AS kind, l.pid, l.lock_key, l.mode, l.granted,
       CASE WHEN l.granted OR l.pid = pg_catalog.pg_backend_pid() THEN NULL
            WHEN l.mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock')
                 OR (l.pid IN (SELECT pid FROM activity WHERE leader_pid IS NOT NULL)) IS TRUE
                 OR (l.pid IN (SELECT leader_pid FROM activity)) IS TRUE
            THEN pg_catalog.pg_blocking_pids(l.pid) END AS blocked_by,
       NULL::float8 AS wait_seconds,
       CASE WHEN l.relation IS NULL OR (l.granted AND l.mode <> 'AccessExclusiveLock') THEN NULL
            WHEN l.database = here.oid THEN l.relation::pg_catalog.regclass::text
            ELSE 'relation ' || l.relation || ' in database ' || l.database END AS relation,
       NULL::int AS leader_pid, NULL::boolean AS in_scope, NULL AS state, NULL AS datname,
       NULL AS application_name, NULL::float8 AS transaction_age_seconds, NULL AS query
FROM contended AS l
CROSS JOIN here
UNION ALL
-- What else the sessions involved hold ACCESS EXCLUSIVE, for the migration signature.
SELECT 'held', l.pid, NULL, l.mode, true, NULL, NULL,
       CASE WHEN l.database = here.oid THEN l.relation::pg_catalog.regclass::text
            ELSE 'relation ' || l.relation || ' in database ' || l.database END,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM locks AS l
CROSS JOIN here
WHERE l.granted AND l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
  AND (l.pid IN (SELECT pid FROM contended)) IS TRUE
UNION ALL
-- No pg_locks.waitstart before 14: a waiting session has waited at most this long.
SELECT 'session', a.pid, NULL, NULL, NULL, NULL,
       EXTRACT(epoch FROM pg_catalog.clock_timestamp() - a.state_change)::float8, NULL, a.leader_pid,
       %(all_databases)s OR a.datname = pg_catalog.current_database(), a.state, a.datname, a.application_name,
       EXTRACT(epoch FROM pg_catalog.now() - a.xact_start)::float8, a.query
FROM activity AS a
