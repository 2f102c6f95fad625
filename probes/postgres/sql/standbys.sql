-- On a primary: every connected standby's lag, and replication slots nobody streams from.
SELECT 'standby' AS kind, r.application_name AS name, r.client_addr::text AS address, r.state, r.sync_state,
       EXTRACT(epoch FROM r.replay_lag)::float8 AS replay_lag_seconds,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.replay_lsn)::float8 AS replay_lag_bytes
FROM pg_catalog.pg_stat_replication AS r
UNION ALL
SELECT 'inactive slot', s.slot_name::text, NULL, 'disconnected', NULL, NULL,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::float8
FROM pg_catalog.pg_replication_slots AS s
WHERE s.slot_type = 'physical' AND NOT s.active AND s.restart_lsn IS NOT NULL
