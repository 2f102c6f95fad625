-- On a standby: how far replay is behind. Zero when everything received is replayed,
-- since then the last replay timestamp only says how quiet the primary has been;
-- the time since the last replay is kept too, as a lower bound when nothing arrives.
SELECT CASE WHEN pg_catalog.pg_last_wal_receive_lsn() = pg_catalog.pg_last_wal_replay_lsn() THEN 0
            ELSE EXTRACT(epoch FROM pg_catalog.now() - pg_catalog.pg_last_xact_replay_timestamp())::float8
       END AS replay_delay_seconds,
       EXTRACT(epoch FROM pg_catalog.now() - pg_catalog.pg_last_xact_replay_timestamp())::float8
           AS since_last_replay_seconds,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(),
                                  pg_catalog.pg_last_wal_replay_lsn())::float8 AS unreplayed_bytes,
       pg_catalog.pg_is_wal_replay_paused() AS replay_paused,
       (SELECT status FROM pg_catalog.pg_stat_wal_receiver) AS receiver_status
