"""The blocking forest from one lock snapshot, worked out without a server: the rows are
what lock_tree.sql returns."""

from incident_lab.kinds.postgres.blocking import (
    build_forest,
    describe_root,
    remedies,
    roots_table,
    tree_table,
)

ORDERS = "(relation,5,16390,,,,,,,)"


def session(pid, query, state="active", age=10.0, leader=None):
    return {
        "kind": "session",
        "pid": pid,
        "leader_pid": leader,
        "in_scope": True,
        "state": state,
        "datname": "shop",
        "application_name": "app",
        "transaction_age_seconds": age,
        "query": query,
        "wait_seconds": None,
    }


def lock(pid, mode, granted, blocked_by=None, wait=None, key=ORDERS, relation="orders"):
    return {
        "kind": "lock",
        "pid": pid,
        "lock_key": key,
        "mode": mode,
        "granted": granted,
        "blocked_by": blocked_by,
        "wait_seconds": wait,
        "relation": relation if not granted or mode == "AccessExclusiveLock" else None,
    }


def test_a_migration_holding_access_exclusive_is_the_root_of_every_reader():
    rows = [
        session(
            100, "ALTER TABLE orders ADD COLUMN shipped_at timestamptz", state="idle in transaction", age=90
        ),
        lock(100, "AccessExclusiveLock", True),
        *(session(pid, "SELECT sum(total) FROM orders") for pid in (201, 202, 203)),
        *(lock(pid, "AccessShareLock", False, wait=5.0 + pid - 200) for pid in (201, 202, 203)),
    ]
    forest = build_forest(rows)
    assert forest.roots == [100]
    assert [s.pid for s in forest.waiters] == [201, 202, 203]
    assert forest.blocked_in_total(100) == 3 and forest.max_depth == 1
    assert describe_root(forest, forest.sessions[100]).startswith("migration pid 100 (idle in transaction)")
    assert "roll it back or run SELECT pg_terminate_backend(100);" in remedies(forest)[0]
    root = roots_table(forest).records()[0]
    assert root["migration"] is True and root["holds_access_exclusive_on"] == "orders"
    assert root["longest_wait_s"] == 8.0


def test_a_ddl_queued_behind_an_old_transaction_amplifies_and_the_old_one_is_the_root():
    rows = [
        session(100, "SELECT count(*) FROM orders", state="idle in transaction", age=600),
        lock(100, "AccessShareLock", True),
        session(150, "ALTER TABLE orders ADD COLUMN refunded boolean"),
        lock(150, "AccessExclusiveLock", False, blocked_by=[100], wait=30.0),
        *(session(pid, "SELECT * FROM orders") for pid in (201, 202)),
        *(lock(pid, "AccessShareLock", False, wait=3.0) for pid in (201, 202)),
    ]
    forest = build_forest(rows)
    assert forest.roots == [100]
    # Readers queue behind the ALTER (a soft block: its request is ahead of theirs and conflicts).
    assert forest.sessions[201].blocked_by == (150,) and forest.sessions[201].depth == 2
    assert [m.pid for m in forest.queued_migrations()] == [150]
    assert any("Cancel the queued migration (SELECT pg_cancel_backend(150);)" in h for h in remedies(forest))
    roles = {r["pid"]: r["role"] for r in tree_table(forest).records()}
    assert roles == {100: "root", 150: "queued migration", 201: "waiting", 202: "waiting"}


def test_a_row_lock_chain_is_as_deep_as_it_is_long():
    rows = []
    for position, pid in enumerate((10, 11, 12, 13)):
        rows.append(session(pid, f"UPDATE accounts SET note = note WHERE id = {position}"))
        key = f"(transactionid,,,,,,{pid},,,)"
        rows.append(lock(pid, "ExclusiveLock", True, key=key, relation=None))
        if position:
            rows.append(
                lock(
                    pid,
                    "ShareLock",
                    False,
                    blocked_by=[pid - 1],
                    wait=1.0,
                    key=f"(transactionid,,,,,,{pid - 1},,,)",
                    relation=None,
                )
            )
    forest = build_forest(rows)
    assert forest.roots == [10] and forest.max_depth == 3
    assert [s.pid for s in forest.tree_order()] == [10, 11, 12, 13]


def test_a_cycle_not_yet_detected_stands_on_its_smallest_pid():
    rows = [
        session(20, "UPDATE a"),
        session(21, "UPDATE b"),
        lock(20, "ShareLock", False, blocked_by=[21], key="(transactionid,,,,,,21,,,)", relation=None),
        lock(21, "ShareLock", False, blocked_by=[20], key="(transactionid,,,,,,20,,,)", relation=None),
    ]
    forest = build_forest(rows)
    assert forest.roots == [20] and forest.sessions[20].in_cycle
    assert {r["pid"]: r["role"] for r in tree_table(forest).records()}[20] == "cycle"


def test_parallel_workers_are_named_by_their_leader():
    rows = [
        session(100, "LOCK TABLE orders", state="idle in transaction"),
        lock(100, "AccessExclusiveLock", True),
        session(300, "SELECT count(*) FROM orders"),
        session(301, "SELECT count(*) FROM orders", leader=300),
        lock(300, "AccessShareLock", False, blocked_by=[100]),
        lock(301, "AccessShareLock", False, blocked_by=[100]),
    ]
    forest = build_forest(rows)
    assert forest.roots == [100] and forest.blocked_in_total(100) == 2
