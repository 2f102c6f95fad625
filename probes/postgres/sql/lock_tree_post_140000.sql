-- Every lock someone waits for, one row per session holding or requesting it, each such
-- lock's object, and the sessions and prepared transactions involved, from one snapshot
-- of the lock manager; incident_lab.kinds.postgres.blocking works out who blocks whom
-- from these rows with PostgreSQL's lock conflict table, and names every lock.
-- PostgreSQL 14 and later only (pg_locks.waitstart): there is no lock_tree.sql for older servers.
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
-- A prepared transaction has no backend: pg_locks shows its locks without a pid and
-- pg_blocking_pids() names it 0. It is told apart by the transaction id it holds a lock
-- on, and stands in the rows as minus that id.
--
-- Objects are named once per contended lock: relations by ::regclass, which reads the
-- catalog without locking the table, and only in this database (elsewhere the database's
-- name is given); other objects by pg_describe_object().
WITH locks AS MATERIALIZED (
    SELECT COALESCE(l.pid, 0) AS pid, l.mode, l.granted, l.locktype, l.database, l.relation, l.page,
           l.tuple, l.virtualxid, l.transactionid, l.classid, l.objid, l.objsubid, l.virtualtransaction,
           l.waitstart,
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
prepared AS MATERIALIZED (
    SELECT l.virtualtransaction, -(p.transaction::text::int8) AS pid, p.gid, p.owner, p.database,
           p.prepared, p.transaction
    FROM locks AS l
    JOIN pg_catalog.pg_prepared_xacts AS p ON p.transaction = l.transactionid
    WHERE l.pid = 0 AND l.locktype = 'transactionid'
),
activity AS MATERIALIZED (
    SELECT a.pid, a.leader_pid, a.datname, a.state, a.application_name, a.xact_start, a.query,
           a.backend_xid
    FROM pg_catalog.pg_stat_activity AS a
    WHERE (a.pid IN (SELECT pid FROM contended)) IS TRUE
),
here AS (
    SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database()
),
objects AS (
    -- Every contended lock has a request: naming those alone sorts fewer rows.
    SELECT DISTINCT ON (c.lock_key) c.*
    FROM contended AS c
    WHERE NOT c.granted
    ORDER BY c.lock_key
)
SELECT 'lock' AS kind,
       CASE WHEN l.pid <> 0 THEN l.pid
            ELSE COALESCE((SELECT p.pid FROM prepared AS p WHERE p.virtualtransaction = l.virtualtransaction), 0)
       END AS pid,
       l.lock_key, l.mode, l.granted,
       CASE WHEN l.granted OR l.pid IN (0, pg_catalog.pg_backend_pid()) THEN NULL
            WHEN l.mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock')
                 OR (l.pid IN (SELECT pid FROM activity WHERE leader_pid IS NOT NULL)) IS TRUE
                 OR (l.pid IN (SELECT leader_pid FROM activity)) IS TRUE
            THEN pg_catalog.pg_blocking_pids(l.pid) END AS blocked_by,
       EXTRACT(epoch FROM pg_catalog.clock_timestamp() - l.waitstart)::float8 AS wait_seconds,
       NULL::int AS leader_pid, NULL::boolean AS in_scope, NULL AS state, NULL::name AS datname,
       NULL AS application_name, NULL::float8 AS transaction_age_seconds, NULL AS query, NULL AS xid,
       NULL::json AS detail
FROM contended AS l
UNION ALL
SELECT 'target', NULL, o.lock_key, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       pg_catalog.json_build_object(
           'locktype', o.locktype,
           'relation', CASE WHEN o.relation IS NULL OR o.database NOT IN (0, here.oid) THEN NULL
                            -- An uncommitted relation (CREATE INDEX's new index) has no name yet.
                            WHEN o.relation::pg_catalog.regclass::text = o.relation::text THEN NULL
                            ELSE o.relation::pg_catalog.regclass::text END,
           'relation_oid', o.relation::int8,
           -- Only for another database's lock: "relation 16391 in database billing".
           'datname', CASE WHEN o.database NOT IN (0, here.oid) THEN d.datname END,
           'page', o.page, 'tuple', o.tuple, 'xid', o.transactionid, 'virtualxid', o.virtualxid,
           'classid', o.classid::int8, 'objid', o.objid::int8, 'objsubid', o.objsubid,
           'object', CASE WHEN o.locktype = 'object' AND o.database IN (0, here.oid)
                          THEN pg_catalog.pg_describe_object(o.classid, o.objid, o.objsubid::int) END)
FROM objects AS o
CROSS JOIN here
LEFT JOIN pg_catalog.pg_database AS d ON d.oid = o.database
UNION ALL
SELECT 'prepared', p.pid, NULL, NULL, NULL, NULL, NULL, NULL,
       %(all_databases)s OR p.database = pg_catalog.current_database(), 'prepared', p.database, NULL,
       EXTRACT(epoch FROM pg_catalog.now() - p.prepared)::float8, NULL, p.transaction::text,
       pg_catalog.json_build_object('owner', p.owner, 'gid', p.gid)
FROM prepared AS p
WHERE (p.virtualtransaction IN (SELECT virtualtransaction FROM contended WHERE pid = 0)) IS TRUE
UNION ALL
SELECT 'session', a.pid, NULL, NULL, NULL, NULL, NULL, a.leader_pid,
       %(all_databases)s OR a.datname = pg_catalog.current_database(), a.state, a.datname, a.application_name,
       EXTRACT(epoch FROM pg_catalog.now() - a.xact_start)::float8, a.query, a.backend_xid::text, NULL
FROM activity AS a
