"""PgBouncer, the real one (Debian's 1.18) in front of the test PostgreSQL: the PostgreSQL
probes through it in session and transaction pooling, and the `pgbouncer` kind's pool
saturation probe against its admin console."""

import time
from contextlib import contextmanager

import psycopg
import pytest
from conftest import pattern_standing

from incident_lab import TargetError, run, scenarios
from incident_lab.kinds.pgbouncer.session import PgBouncerSession, PgBouncerTarget
from incident_lab.probe import BUDGET_PARAM, Param, Probe, run_probe
from incident_lab.testing.pgbouncer import PgBouncer
from incident_lab.verdict import Verdict

SETTINGS = (
    "SELECT current_setting('statement_timeout') AS statement_timeout,"
    " current_setting('transaction_read_only') AS read_only, current_setting('search_path') AS search_path"
)


def settings_probe(seen):
    """A probe that notes the settings it runs under, then tries to write."""

    def body(db):
        seen.update(db.execute(SETTINGS)[0])
        db.execute("CREATE TABLE must_not_exist (id int)")

    return Probe("test.settings", "h", "t", "postgres", body, (Param(BUDGET_PARAM, float, 5.0, ""),), 5.0)


@pytest.mark.parametrize("pool", ["session", "transaction"])
def test_postgres_probes_work_through_pgbouncer_and_stay_read_only(pgbouncer, database, pool):
    with scenarios.migration_holds_lock(database, readers=2) as migration:
        through = run("postgres.lock_contention", pgbouncer.dsn(pool))
    assert through.verdict is Verdict.TRUE, through.summary
    assert f"migration pid {migration} (idle in transaction) holds ACCESS EXCLUSIVE on public.orders" in (
        through.summary
    )
    assert run("postgres.lock_contention", pgbouncer.dsn(pool)).verdict is Verdict.FALSE
    from incident_lab.kinds.postgres.session import PostgresTarget

    seen = {}
    refused = run_probe(settings_probe(seen), PostgresTarget.parse(pgbouncer.dsn(pool)), {})
    assert seen == {"statement_timeout": "2500ms", "read_only": "on", "search_path": "pg_catalog"}
    assert refused.verdict is Verdict.INCONCLUSIVE and "read-only transaction" in refused.error
    # Set for the probe's own transactions only: the next client of the pool sees the defaults.
    with psycopg.connect(pgbouncer.dsn(pool), autocommit=True) as client:
        assert client.execute("SHOW statement_timeout").fetchone() == ("0",)


def test_a_pgbouncer_that_silently_drops_the_startup_options_is_still_safe(database):
    settings = {"ignore_startup_parameters": "options"}
    with PgBouncer(database, {"transaction": "transaction"}, settings=settings) as bouncer:
        from incident_lab.kinds.postgres.session import PostgresTarget

        seen = {}
        run_probe(settings_probe(seen), PostgresTarget.parse(bouncer.dsn("transaction")), {})
        waits = run("postgres.wait_events", bouncer.dsn("transaction"), {"window_seconds": 0.5})
    assert seen["read_only"] == "on" and seen["statement_timeout"] == "2500ms"
    assert waits.verdict is Verdict.FALSE, waits.summary  # 20 identical samples, none prepared


@contextmanager
def clients_holding_transactions(dsn, count):
    """`count` clients each run BEGIN and a statement and keep the transaction open: in
    transaction pooling each holds a server connection until it ends, and those beyond
    the pool's size queue in PgBouncer for one. Closed, not committed, on exit."""
    clients = []
    try:
        for _ in range(count):
            clients.append(psycopg.connect(dsn, autocommit=True, application_name="checkout"))
            clients[-1].pgconn.send_query(b"BEGIN; SELECT pg_catalog.txid_current()")
        yield
    finally:
        for client in clients:
            client.close()


def waiting_clients(bouncer):
    with psycopg.connect(bouncer.console_dsn(), autocommit=True, prepare_threshold=None) as console:
        pools = console.execute("SHOW POOLS").fetchall()
    return sum(row[3] for row in pools if row[0] == "transaction")


def test_five_clients_holding_transactions_exhaust_a_pool_of_two(pgbouncer):
    target = pgbouncer.console_dsn()
    with clients_holding_transactions(pgbouncer.dsn("transaction"), 5):
        deadline = time.monotonic() + 15
        while waiting_clients(pgbouncer) < 3:
            assert time.monotonic() < deadline, "three clients never queued"
            time.sleep(0.05)
        while (result := run("pgbouncer.pool_saturation", target, {"min_wait_seconds": 0.5})).verdict is not (
            Verdict.TRUE
        ):
            assert time.monotonic() < deadline, result.summary
            time.sleep(0.1)
    print(result.summary)
    assert result.summary.startswith(
        "Pool transaction (user postgres, transaction mode) is exhausted: 3 clients wait for a server "
        "connection, the longest for "
    )
    assert "while 2 of its pool_size 2 servers are in use by 2 active clients" in result.summary
    pool = next(row for row in result.table("pools").records() if row["database"] == "transaction")
    assert (pool["cl_waiting"], pool["sv_active"], pool["pool_size"]) == (3, 2, 2)
    assert pool["maxwait_s"] >= 0.5
    holders = result.table("active_clients").records()
    assert len(holders) == 2 and {h["application_name"] for h in holders} == {"checkout"}
    assert "Raise default_pool_size (now 2)" in result.hints[0] and "long holders" in result.hints[0]
    assert pattern_standing(result)["pgbouncer.pool-exhausted"] == "matched"
    assert result.test.split() == [
        "SHOW",
        "CONFIG;",
        "SHOW",
        "DATABASES;",
        "SHOW",
        "POOLS;",
        "SHOW",
        "CLIENTS;",
    ]


def test_an_idle_pool_is_not_saturated(pgbouncer):
    with psycopg.connect(pgbouncer.dsn("transaction"), autocommit=True) as client:
        client.execute("SELECT 1")  # PgBouncer shows a pool once a client has used it
    result = run("pgbouncer.pool_saturation", pgbouncer.console_dsn())
    print(result.summary)
    assert result.verdict is Verdict.FALSE, result.summary
    assert "0 clients waiting now" in result.summary
    assert any(row["database"] == "transaction" for row in result.table("pools").records())
    assert pattern_standing(result)["pgbouncer.pool-exhausted"] == "ruled out"


def test_an_unreachable_console_is_inconclusive_and_keeps_its_password(pgbouncer, free_port):
    secret = pgbouncer.stats_password
    unreachable = pgbouncer.console_dsn().replace(f":{pgbouncer.port}/", f":{free_port}/")
    result = run("pgbouncer.pool_saturation", unreachable, {"budget_seconds": 5})
    print(result.summary)
    assert result.verdict is Verdict.INCONCLUSIVE and "Connection refused" in result.error
    assert secret not in result.to_json()
    wrong = run("pgbouncer.pool_saturation", pgbouncer.console_dsn().replace(secret, "not-it"))
    assert wrong.verdict is Verdict.INCONCLUSIVE and "authentication failed" in wrong.summary


def test_the_console_session_sends_only_read_only_commands(pgbouncer):
    session = PgBouncerSession(PgBouncerTarget.parse(pgbouncer.console_dsn(admin=True)).conninfo, 5.0)
    try:
        for _ in range(7):  # more than psycopg's prepare threshold: the console must never see a prepare
            assert session.show("VERSION")[0]["version"].startswith("PgBouncer")
        with pytest.raises(ValueError, match="not one of the console's read-only commands"):
            session.show("PAUSE")
    finally:
        session.close()
    with pytest.raises(TargetError, match="admin console, database pgbouncer"):
        PgBouncerTarget.parse("postgresql://app@127.0.0.1:6432/shop")


def test_the_kind_and_its_default_hypothesis_from_the_command_line(cli, pgbouncer):
    kinds = cli("kinds")
    assert "pgbouncer" in kinds.stdout and "pgbouncer.pool_saturation" in kinds.stdout
    shown = cli("probe", "pgbouncer.pool_saturation", "--target", f"pgbouncer={pgbouncer.console_dsn()}")
    assert shown.returncode == 0, shown.stderr
    assert "Verdict: FALSE" in shown.stdout and pgbouncer.stats_password not in shown.stdout + shown.stderr
