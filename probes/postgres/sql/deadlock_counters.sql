-- The cumulative deadlock counter per database; the probe samples it twice.
SELECT datname, deadlocks::bigint AS deadlocks, stats_reset
FROM pg_catalog.pg_stat_database
WHERE datname IS NOT NULL
  AND (%(all_databases)s OR datname = pg_catalog.current_database())
ORDER BY datname
