"""Each PostgreSQL probe against real sessions making the real situation it looks for."""

import re
import textwrap
import threading
import time

import psycopg
import pytest
from conftest import pattern_standing

from incident_lab import ParameterError, PostgresTarget, run, scenarios
from incident_lab.embedded import EmbeddedPostgres
from incident_lab.registry import load_registry
from incident_lab.verdict import Verdict


def by_pid(result, table="blocking_tree"):
    return {row["pid"]: row for row in result.table(table).records()}


def test_migration_holding_access_exclusive_is_named_as_the_root(database):
    with scenarios.migration_holds_lock(database, table="orders", readers=3) as migration:
        result = run("postgres.lock_contention", database)
    assert result.verdict is Verdict.TRUE
    assert result.metric("waiting_sessions") == 3
    assert result.metric("root_blockers") == 1
    assert result.metric("max_chain_depth") == 1
    assert f"migration pid {migration}" in result.summary
    assert "ACCESS EXCLUSIVE on public.orders" in result.summary
    tree = by_pid(result)
    assert tree[migration]["role"] == "root"
    assert tree[migration]["lock_mode"] == "AccessExclusiveLock"
    assert [row["blocked_by"] for pid, row in tree.items() if pid != migration] == [str(migration)] * 3
    roots = result.table("root_blockers").records()
    assert len(roots) == 1 and roots[0]["blocks_in_total"] == 3
    assert roots[0]["migration"] is True
    assert any(f"pg_terminate_backend({migration})" in hint for hint in result.hints)
    assert "pg_blocking_pids" in result.test


def test_migration_queued_behind_an_old_transaction_is_the_amplifier_not_the_root(database):
    with scenarios.migration_queued(database, table="orders", readers=3) as (old, migration):
        result = run("postgres.lock_contention", database)
    assert result.verdict is Verdict.TRUE
    assert result.metric("waiting_sessions") == 4
    assert result.metric("max_chain_depth") == 2
    tree = by_pid(result)
    assert tree[old]["role"] == "root" and tree[old]["state"] == "idle in transaction"
    assert tree[migration]["role"] == "queued migration"
    assert tree[migration]["lock_mode"] == "AccessExclusiveLock"
    readers = [row for pid, row in tree.items() if pid not in (old, migration)]
    assert [row["depth"] for row in readers] == [2, 2, 2]
    assert (
        f"migration pid {migration} waits for ACCESS EXCLUSIVE on public.orders behind pid {old}"
        in result.summary
    )
    assert "amplifies" in result.summary
    assert any(f"pg_cancel_backend({migration})" in hint for hint in result.hints)


def test_row_lock_chain_three_deep(database):
    with scenarios.row_lock_chain(database, depth=3) as chain:
        result = run("postgres.lock_contention", database)
    assert result.verdict is Verdict.TRUE
    assert result.metric("max_chain_depth") == 3
    tree = by_pid(result)
    assert [tree[pid]["depth"] for pid in chain] == [0, 1, 2, 3]
    assert [tree[pid]["blocked_by"] for pid in chain[1:]] == [str(pid) for pid in chain[:-1]]
    assert result.table("root_blockers").records()[0]["blocks_in_total"] == 3


def test_waits_shorter_than_the_threshold_do_not_confirm(database):
    with scenarios.migration_holds_lock(database, readers=2):
        result = run("postgres.lock_contention", database, {"min_wait_seconds": 3600})
    assert result.verdict is Verdict.FALSE
    assert "2 waiting in all" in result.summary


def test_idle_transaction_holding_a_lock_others_wait_for(database):
    with scenarios.idle_transaction_blocking(database, waiters=2) as idle_pid:
        deadline = time.monotonic() + 10
        while (
            result := run("postgres.idle_in_transaction", database, {"min_idle_seconds": 0.2})
        ).verdict is not Verdict.TRUE:
            assert time.monotonic() < deadline, result.summary
            time.sleep(0.05)
        not_yet = run("postgres.idle_in_transaction", database, {"min_idle_seconds": 3600})
    rows = {row["pid"]: row for row in result.table("idle_in_transaction").records()}
    assert rows[idle_pid]["blocks_sessions"] == 2
    assert result.metric("blocking_idle_sessions") == 1
    assert f"pg_terminate_backend({idle_pid})" in result.hints[0]
    assert not_yet.verdict is Verdict.FALSE


def test_long_transaction_and_its_xmin_horizon(database):
    with scenarios.open_transaction(database) as pid:
        deadline = time.monotonic() + 10
        while (
            result := run("postgres.long_transactions", database, {"max_transaction_seconds": 0.2})
        ).verdict is not Verdict.TRUE:
            assert time.monotonic() < deadline, result.summary
            time.sleep(0.05)
    assert f"session {pid}" in result.summary
    holders = result.table("transactions_and_xmin_holders").records()
    assert any(row["name"] == str(pid) and row["xmin_age"] is not None for row in holders)
    assert result.metric("long_transactions") >= 1


def test_connection_saturation_counts_slots_and_treats_refusal_as_evidence():
    with EmbeddedPostgres(max_connections=12, settings={"superuser_reserved_connections": "2"}) as server:
        dsn = server.create_database("app")
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("CREATE ROLE monitor LOGIN PASSWORD 'monitor-pw' IN ROLE pg_monitor")
        calm = run("postgres.connection_saturation", dsn)
        assert calm.verdict is Verdict.FALSE
        assert calm.metric("usable_connections") == 10
        with scenarios.idle_connections(dsn, 8):
            busy = run("postgres.connection_saturation", dsn)
            assert busy.verdict is Verdict.TRUE, busy.summary
            assert busy.metric("client_connections") == 9  # the probe's own is one
        with scenarios.idle_connections(dsn, 10):
            refused = run(
                "postgres.connection_saturation", server.dsn("app", user="monitor", password="monitor-pw")
            )
        assert refused.verdict is Verdict.TRUE, refused.summary
        assert "53300" in refused.summary
        assert refused.table("connect_refused").records()[0]["sqlstate"] == "53300"


def test_a_window_as_long_as_the_budget_is_refused_before_connecting():
    with pytest.raises(ParameterError, match="window_seconds must be shorter than budget_seconds"):
        run(
            "postgres.deadlocks",
            "postgresql://app@127.0.0.1:1/x",
            {"window_seconds": 30, "budget_seconds": 30},
        )


def test_deadlock_during_the_sampling_window(database):
    results = []
    watcher = threading.Thread(
        target=lambda: results.append(run("postgres.deadlocks", database, {"window_seconds": 4}))
    )
    watcher.start()
    time.sleep(0.5)  # let the first sample be taken before the deadlock happens
    scenarios.deadlock(database)
    watcher.join()
    (result,) = results
    assert result.verdict is Verdict.TRUE, result.summary
    assert result.metric("deadlocks_in_window") == 1
    assert result.table("deadlock_counter").records()[0]["increase"] == 1


def test_replication_lag_seen_from_a_real_standby_and_from_its_primary():
    with EmbeddedPostgres() as primary:
        dsn = primary.create_database("shop")
        standby = primary.standby("replica1")
        try:
            # A standby just started may still be catching up before it streams.
            deadline = time.monotonic() + 20
            while (first := run("postgres.replication_lag", dsn)).verdict is not Verdict.FALSE:
                assert time.monotonic() < deadline, first.summary
                time.sleep(0.1)
            in_sync = run("postgres.replication_lag", standby.dsn("shop"))
            assert in_sync.verdict is Verdict.FALSE and "receiver streaming" in in_sync.summary
            with psycopg.connect(dsn, autocommit=True) as connection:
                connection.execute("CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)")
            with psycopg.connect(standby.admin_dsn, autocommit=True) as connection:
                while connection.execute("SELECT pg_last_xact_replay_timestamp() IS NULL").fetchone()[0]:
                    time.sleep(0.05)
                connection.execute("SELECT pg_wal_replay_pause()")
            with psycopg.connect(dsn, autocommit=True) as connection:
                connection.execute("INSERT INTO orders VALUES (2)")
            deadline = time.monotonic() + 20
            while (
                behind := run("postgres.replication_lag", standby.dsn("shop"), {"max_lag_seconds": 0.5})
            ).verdict is not Verdict.TRUE:
                assert time.monotonic() < deadline, behind.summary
                time.sleep(0.1)
            assert "replay is paused" in behind.summary and behind.metric("unreplayed_bytes") > 0
        finally:
            standby.stop()
        gone = run("postgres.replication_lag", dsn)
        assert gone.verdict is Verdict.TRUE
        assert "slot replica1 has no standby streaming from it" in gone.summary


def test_no_replication_is_refuted_with_a_clear_summary(database):
    result = run("postgres.replication_lag", database)
    assert result.verdict is Verdict.FALSE
    assert "No replication" in result.summary


@pytest.mark.parametrize("tool", ["django", "flyway"])
def test_recent_migration_rows_confirm(database, tool):
    with psycopg.connect(database, autocommit=True) as connection:
        if tool == "django":
            connection.execute(
                "CREATE TABLE django_migrations (id serial, app text, name text, applied timestamptz)"
            )
            connection.execute(
                "INSERT INTO django_migrations (app, name, applied) VALUES"
                " ('shop', '0001_initial', now() - interval '30 days'),"
                " ('shop', '0042_add_shipped_at', now() - interval '12 minutes')"
            )
        else:
            connection.execute(
                "CREATE TABLE flyway_schema_history (installed_rank int, version text,"
                " description text, installed_on timestamp DEFAULT now(), success boolean)"
            )
            connection.execute(
                "INSERT INTO flyway_schema_history VALUES"
                " (1, '7', 'add index on orders', now() - interval '12 minutes', true)"
            )
    result = run("postgres.recent_migration", database)
    assert result.verdict is Verdict.TRUE, result.summary
    assert ("0042_add_shipped_at" if tool == "django" else "add index on orders") in result.summary
    assert "12 min ago" in result.hints[0]
    old = run("postgres.recent_migration", database, {"window_minutes": 5})
    assert old.verdict is Verdict.FALSE
    assert "No migration in the last 5 min" in old.summary


def test_no_migration_table_is_inconclusive_and_says_what_it_looked_for(database):
    result = run("postgres.recent_migration", database)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "django_migrations" in result.summary and "flyway_schema_history" in result.summary


CATALOGUE = [
    "postgres.lock_contention",
    "postgres.idle_in_transaction",
    "postgres.long_transactions",
    "postgres.connection_saturation",
    "postgres.deadlocks",
    "postgres.replication_lag",
    "postgres.recent_migration",
    "postgres.wait_events",
]


def test_healthy_database_refutes_every_hypothesis(database):
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE django_migrations (id serial, app text, name text, applied timestamptz)"
        )
        connection.execute(
            "INSERT INTO django_migrations (app, name, applied)"
            " VALUES ('shop', '0001_initial', now() - interval '3 days')"
        )
    params = {"postgres.deadlocks": {"window_seconds": 1}, "postgres.wait_events": {"window_seconds": 0.5}}
    verdicts = {probe_id: run(probe_id, database, params.get(probe_id)) for probe_id in CATALOGUE}
    assert {probe_id: r.verdict.json for probe_id, r in verdicts.items()} == dict.fromkeys(
        CATALOGUE, False
    ), {probe_id: r.summary for probe_id, r in verdicts.items()}


WINDOWS = {"postgres.deadlocks": {"window_seconds": 1}, "postgres.wait_events": {"window_seconds": 0.5}}


def test_unreachable_server_is_inconclusive_and_never_shows_the_password():
    secret = "s3cret-Pa55word"
    target = f"postgresql://app:{secret}@127.0.0.1:1/shop"
    for probe_id in CATALOGUE:
        result = run(probe_id, target, {"budget_seconds": 5, **WINDOWS.get(probe_id, {})})
        assert result.verdict is Verdict.INCONCLUSIVE
        assert "Connection refused" in result.error
        assert result.target == "postgresql://app@127.0.0.1:1/shop"
        assert secret not in result.to_json() and secret not in repr(result)


def test_wrong_password_is_inconclusive_without_echoing_it(postgres_server, database, database_password):
    wrong = database.replace(database_password, "not-the-password")
    result = run("postgres.lock_contention", wrong)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "password authentication failed" in result.summary
    assert "not-the-password" not in result.to_json()


def test_probe_answers_within_its_budget_when_the_server_does_not(database):
    """A server that accepts TCP but never answers: the probe gives up at its budget."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    started = time.monotonic()
    result = run(
        "postgres.lock_contention", f"postgresql://app:pw@127.0.0.1:{port}/shop", {"budget_seconds": 1.5}
    )
    elapsed = time.monotonic() - started
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "budget of 1.5 s" in result.summary
    assert elapsed < 3
    # With a longer budget, connect_timeout (half of it) gives up first, and says so.
    result = run(
        "postgres.lock_contention", f"postgresql://app:pw@127.0.0.1:{port}/shop", {"budget_seconds": 6}
    )
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.summary == (
        "could not test: the server did not accept the connection within 3 s (connect_timeout)"
    ), result.summary
    listener.close()


def test_probe_session_is_read_only_and_identifies_itself(database):
    from incident_lab.kinds.postgres.session import PostgresTarget
    from incident_lab.probe import Probe

    seen = {}

    def settings(db):
        seen.update(
            db.execute(
                "SELECT current_setting('application_name') AS application_name,"
                " current_setting('default_transaction_read_only') AS read_only,"
                " current_setting('statement_timeout') AS statement_timeout,"
                " current_setting('lock_timeout') AS lock_timeout"
            )[0]
        )
        db.execute("CREATE TABLE must_not_exist (id int)")

    from incident_lab.probe import BUDGET_PARAM, Param, run_probe

    spy = Probe("test.settings", "h", "t", "postgres", settings, (Param(BUDGET_PARAM, float, 5.0, ""),), 5.0)
    result = run_probe(spy, PostgresTarget.parse(database), {})
    assert seen == {
        "application_name": "incident_lab",
        "read_only": "on",
        "statement_timeout": "2500ms",
        "lock_timeout": "500ms",
    }
    assert result.verdict is Verdict.INCONCLUSIVE and "read-only transaction" in result.error


def test_a_role_that_cannot_see_other_sessions_is_inconclusive_not_false(database):
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("DROP ROLE IF EXISTS probe_plain")
        connection.execute("CREATE ROLE probe_plain LOGIN PASSWORD 'plain-pw-123'")
    as_plain = re.sub(r"//[^@]*@", "//probe_plain:plain-pw-123@", database)
    try:
        with scenarios.migration_holds_lock(database, readers=2):
            blind = {
                probe_id: run(probe_id, as_plain)
                for probe_id in (
                    "postgres.lock_contention",
                    "postgres.idle_in_transaction",
                    "postgres.long_transactions",
                )
            }
            with psycopg.connect(database, autocommit=True) as connection:
                connection.execute("GRANT pg_monitor TO probe_plain")
            seeing = run("postgres.lock_contention", as_plain)
    finally:
        with psycopg.connect(database, autocommit=True) as connection:
            connection.execute("DROP ROLE probe_plain")
    # pg_locks shows every session's locks to any role, so the lock probe may still confirm.
    assert blind["postgres.lock_contention"].verdict is not Verdict.FALSE
    assert blind["postgres.idle_in_transaction"].verdict is Verdict.INCONCLUSIVE
    assert blind["postgres.long_transactions"].verdict is Verdict.INCONCLUSIVE
    assert all(
        "grant it pg_monitor" in r.summary for r in blind.values() if r.verdict is Verdict.INCONCLUSIVE
    )
    assert seeing.verdict is Verdict.TRUE


def test_a_users_operator_never_runs_inside_a_probe(database):
    """A varchar `<>` in public would win over pg_catalog's text one, were public on the path."""
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE databasechangelog (id text, author text, filename text,"
            " dateexecuted timestamp, exectype varchar(10))"
        )
        connection.execute(
            "INSERT INTO databasechangelog VALUES ('1', 'dba', 'orders.xml',"
            " now() - interval '3 days', 'EXECUTED')"
        )
        connection.execute(
            "CREATE FUNCTION public.always_differs(varchar, varchar) RETURNS boolean"
            " LANGUAGE sql AS 'SELECT true'"
        )
        connection.execute(
            "CREATE OPERATOR public.<> (LEFTARG = varchar, RIGHTARG = varchar,"
            " FUNCTION = public.always_differs)"
        )
        connection.execute(
            "ALTER DATABASE " + database.rsplit("/", 1)[1] + " SET search_path = public, pg_catalog"
        )
    result = run("postgres.recent_migration", database)
    assert result.table("migration_history").records()[0]["succeeded"] is True


def test_a_secret_that_reaches_an_error_message_is_masked(tmp_path, monkeypatch, database, database_password):
    (tmp_path / "leaky.py").write_text(
        textwrap.dedent("""
        import os
        from incident_lab import probe

        @probe("team.leaky", hypothesis="h", test="t", target="postgres")
        def leaky(db):
            raise RuntimeError("could not use " + os.environ["SHOP_DSN"])
    """)
    )
    monkeypatch.setenv("SHOP_DSN", database)
    password = database_password
    result = run("team.leaky", "env:SHOP_DSN", registry=load_registry([tmp_path]))
    assert result.verdict is Verdict.INCONCLUSIVE and "could not use" in result.error
    assert password not in result.error and password not in result.to_json() and "***" in result.error
    assert password not in repr(PostgresTarget.parse(database))


def test_a_vacuum_stuck_on_a_buffer_pin_is_a_wait_the_lock_probe_cannot_see(database):
    with scenarios.vacuum_waits_for_buffer_pin(database) as vacuum:
        waits = run("postgres.wait_events", database)
        locks = run("postgres.lock_contention", database)
    assert waits.verdict is Verdict.TRUE, waits.summary
    assert waits.summary.startswith("BufferPin waits take 100% of active time (mostly BufferPin, 1 session")
    assert waits.metric("sample_ms") > 0 and waits.test.count("FROM pg_catalog.pg_stat_activity") == 1
    (row,) = waits.table("wait_events").records()
    assert row["top_query"].startswith("VACUUM (FREEZE)") and row["average_sessions"] == 1
    assert locks.verdict is Verdict.FALSE  # no heavyweight lock: pg_blocking_pids sees nothing
    assert vacuum > 0
    assert pattern_standing(waits, locks)["postgres.io-or-lwlock-saturation"] == "matched"


def test_lock_waits_are_left_to_the_lock_probe(database):
    with scenarios.migration_holds_lock(database, readers=3):
        result = run("postgres.wait_events", database, {"window_seconds": 0.5, "samples": 5})
    assert result.verdict is Verdict.FALSE, result.summary
    assert "Lock 100%" in result.summary and "postgres.lock_contention" in result.summary
    assert pattern_standing(result)["postgres.io-or-lwlock-saturation"] == "ruled out"
