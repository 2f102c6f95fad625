"""The blocking forest from one lock snapshot, worked out without a server: the rows are
what lock_tree.sql returns."""

import pytest

from incident_lab.kinds.postgres.blocking import (
    TREE_ROWS,
    build_forest,
    describe_elsewhere,
    describe_root,
    remedies,
    roots_table,
    tree_table,
)
from incident_lab.kinds.postgres.locks import LockTarget, mode_name, operation

ORDERS = "(relation,5,16390,,,,,,,)"


def session(pid, query, state="active", age=10.0, leader=None, datname="shop", in_scope=True, xid=None):
    return {
        "kind": "session",
        "pid": pid,
        "leader_pid": leader,
        "in_scope": in_scope,
        "state": state,
        "datname": datname,
        "application_name": "app",
        "transaction_age_seconds": age,
        "query": query,
        "xid": xid,
        "detail": None,
    }


def prepared(pid, gid, age=42.0):
    return {
        "kind": "prepared",
        "pid": pid,
        "leader_pid": None,
        "in_scope": True,
        "state": "prepared",
        "datname": "shop",
        "application_name": None,
        "transaction_age_seconds": age,
        "query": None,
        "xid": str(-pid),
        "detail": {"owner": "billing", "gid": gid},
    }


def target(key=ORDERS, locktype="relation", relation="public.orders", datname=None, **parts):
    detail = {"locktype": locktype, "relation": relation, "relation_oid": 16390, "datname": datname}
    return {"kind": "target", "lock_key": key, "detail": {**detail, **parts}}


def lock(pid, mode, granted, blocked_by=None, wait=None, key=ORDERS):
    return {
        "kind": "lock",
        "pid": pid,
        "lock_key": key,
        "mode": mode,
        "granted": granted,
        "blocked_by": blocked_by,
        "wait_seconds": wait,
    }


def test_a_migration_holding_access_exclusive_is_the_root_of_every_reader():
    rows = [
        session(
            100, "ALTER TABLE orders ADD COLUMN shipped_at timestamptz", state="idle in transaction", age=90
        ),
        target(),
        lock(100, "AccessExclusiveLock", True),
        *(session(pid, "SELECT sum(total) FROM orders") for pid in (201, 202, 203)),
        *(lock(pid, "AccessShareLock", False, wait=5.0 + pid - 200) for pid in (201, 202, 203)),
    ]
    forest = build_forest(rows)
    assert forest.roots == [100]
    assert [s.pid for s in forest.waiters] == [201, 202, 203]
    assert forest.blocked_in_total(100) == 3 and forest.max_depth == 1
    assert describe_root(forest, forest.sessions[100]).startswith(
        "migration pid 100 (idle in transaction) holds ACCESS EXCLUSIVE on public.orders, "
        "blocking reads and writes — blocks 3 sessions: ALTER TABLE orders"
    )
    assert "roll it back or run SELECT pg_terminate_backend(100);" in remedies(forest)[0]
    root = roots_table(forest).records()[0]
    assert root["migration"] is True and root["holds"].startswith("ACCESS EXCLUSIVE on public.orders")
    assert root["longest_wait_s"] == 8.0
    tree = {r["pid"]: r for r in tree_table(forest).records()}
    assert tree[100]["lock_on"] == "public.orders" and tree[201]["lock_mode"] == "AccessShareLock"


def test_a_ddl_queued_behind_an_old_transaction_amplifies_and_the_old_one_is_the_root():
    rows = [
        target(),
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
    # The old transaction's lock is what the ALTER waits for; the readers wait for the ALTER's request.
    assert forest.sessions[100].held() == "ACCESS SHARE on public.orders, blocking schema changes"
    assert any("Cancel the queued migration (SELECT pg_cancel_backend(150);)" in h for h in remedies(forest))
    roles = {r["pid"]: r["role"] for r in tree_table(forest).records()}
    assert roles == {100: "root", 150: "queued migration", 201: "waiting", 202: "waiting"}


def test_create_index_is_named_by_the_share_lock_that_blocks_writers_not_its_new_index():
    index = "(relation,5,16396,,,,,,,)"
    rows = [
        target(),
        target(index, relation=None),  # the new index: not yet visible to anyone else
        session(100, "CREATE INDEX orders_note ON orders (note)", state="idle in transaction"),
        lock(100, "ShareLock", True),
        lock(100, "AccessExclusiveLock", True, key=index),
        *(session(pid, "INSERT INTO orders VALUES (11)") for pid in (201, 202)),
        *(lock(pid, "RowExclusiveLock", False, wait=2.0) for pid in (201, 202)),
    ]
    forest = build_forest(rows)
    line = describe_root(forest, forest.sessions[100])
    assert "holds SHARE on public.orders, blocking writes; CREATE INDEX without CONCURRENTLY" in line
    assert "16396" not in line and "not yet committed" not in line


def test_a_prepared_transaction_is_a_root_with_its_gid_and_the_remedy():
    xact = "(transactionid,,,,,,733,,,)"
    rows = [
        target(xact, locktype="transactionid", relation=None, datname=None, xid="733"),
        prepared(-733, "checkout-42"),
        lock(-733, "ExclusiveLock", True, key=xact),
        session(201, "UPDATE orders SET note = 'y' WHERE id = 1"),
        lock(201, "ShareLock", False, blocked_by=[0], wait=4.0, key=xact),
    ]
    forest = build_forest(rows)
    assert forest.roots == [-733]
    line = describe_root(forest, forest.sessions[-733])
    assert line.startswith(
        "prepared transaction 'checkout-42' (owner billing, database shop, prepared 42 s ago)"
    )
    assert "holds row locks as transaction 733 — blocks 1 session" in line and "None" not in line
    (hint,) = remedies(forest)
    assert "ROLLBACK PREPARED 'checkout-42'" in hint and "COMMIT PREPARED 'checkout-42'" in hint
    assert "pg_terminate_backend cannot end it" in hint
    assert roots_table(forest).records()[0]["query"] == "prepared transaction 'checkout-42'"


def test_a_row_lock_names_the_blockers_state_and_xid():
    xact = "(transactionid,,,,,,745,,,)"
    rows = [
        target(xact, locktype="transactionid", relation=None, datname=None, xid="745"),
        session(100, "UPDATE carts SET note = 'held' WHERE id = 1", state="idle in transaction", xid="745"),
        lock(100, "ExclusiveLock", True, key=xact),
        session(201, "UPDATE carts SET note = 'waiting' WHERE id = 1"),
        lock(201, "ShareLock", False, blocked_by=[100], wait=1.0, key=xact),
    ]
    forest = build_forest(rows)
    assert describe_root(forest, forest.sessions[100]).startswith(
        "pid 100 (idle in transaction, xid 745) holds row locks as transaction 745 — blocks 1 session"
    )
    assert {r["pid"]: r["lock_on"] for r in tree_table(forest).records()}[201] == "transaction 745"


@pytest.mark.parametrize(
    ("classid", "objid", "objsubid", "named"),
    [
        (0, 4242, 1, "advisory lock 4242"),
        (4294967295, 4294967291, 1, "advisory lock -5"),
        (1, 2, 2, "advisory lock (1, 2)"),
        (4294967295, 7, 2, "advisory lock (-1, 7)"),
    ],
)
def test_advisory_locks_are_named_by_their_key(classid, objid, objsubid, named):
    lock_target = LockTarget("advisory", classid=classid, objid=objid, objsubid=objsubid)
    assert lock_target.name == named


def test_an_advisory_lock_holder_and_its_waiters():
    key = "(advisory,5,,,,,,0,4242,1)"
    rows = [
        target(key, locktype="advisory", relation=None, classid=0, objid=4242, objsubid=1),
        session(100, "SELECT pg_advisory_lock(4242)", state="idle"),
        lock(100, "ExclusiveLock", True, key=key),
        *(session(pid, "SELECT pg_advisory_lock(4242)") for pid in (201, 202)),
        *(lock(pid, "ExclusiveLock", False, blocked_by=[100], wait=1.0, key=key) for pid in (201, 202)),
    ]
    forest = build_forest(rows)
    line = describe_root(forest, forest.sessions[100])
    assert line.startswith("pid 100 (idle) holds advisory lock 4242 — blocks 2 sessions")
    assert "pg_advisory_unlock" in remedies(forest)[0]
    assert {r["pid"]: r["lock_on"] for r in tree_table(forest).records()}[201] == "advisory lock 4242"


def test_waits_in_other_databases_are_counted_not_explained():
    other = "(relation,7,16391,,,,,,,)"
    rows = [
        target(other, relation=None, datname="billing"),
        session(100, "ALTER TABLE invoices ADD COLUMN x int", datname="billing", in_scope=False),
        lock(100, "AccessExclusiveLock", True, key=other),
        *(session(p, "SELECT 1 FROM invoices", datname="billing", in_scope=False) for p in (201, 202, 203)),
        *(lock(pid, "AccessShareLock", False, key=other) for pid in (201, 202, 203)),
    ]
    forest = build_forest(rows)
    assert forest.waiters == [] and forest.roots == []
    assert describe_elsewhere(forest) == (
        " … and 3 sessions wait in database billing: re-run with all_databases=true"
    )
    in_scope = build_forest([{**r, "in_scope": True} if r["kind"] == "session" else r for r in rows])
    line = describe_root(in_scope, in_scope.sessions[100])
    assert "relation 16390 in database billing (connect there" in line


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("VACUUM FULL orders", "VACUUM FULL"),
        ("vacuum (full, verbose) orders", "VACUUM FULL"),
        ("CLUSTER orders USING orders_pkey", "CLUSTER"),
        ("REINDEX TABLE orders", "REINDEX without CONCURRENTLY"),
        ("REINDEX TABLE CONCURRENTLY orders", None),
        ("TRUNCATE orders", "TRUNCATE"),
        (
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer) REFERENCES customers",
            "foreign key validation (ADD FOREIGN KEY checks every row)",
        ),
        ("ALTER TABLE orders VALIDATE CONSTRAINT fk", "constraint validation"),
        ("CREATE INDEX i ON orders (note)", "CREATE INDEX without CONCURRENTLY"),
        ("CREATE INDEX CONCURRENTLY i ON orders (note)", None),
        (
            "autovacuum: VACUUM public.big (to prevent wraparound)",
            "anti-wraparound autovacuum",
        ),
        ("autovacuum: VACUUM ANALYZE public.big", "autovacuum"),
        ("ALTER TABLE orders ADD COLUMN x int", "migration"),
        ("SELECT * FROM orders", None),
    ],
)
def test_operations_that_take_strong_locks_are_named(query, named):
    found = operation(query)
    assert (found.name if found else None) == named


def test_an_anti_wraparound_autovacuum_root_is_named_and_left_to_finish():
    rows = [
        target(),
        session(90, "autovacuum: VACUUM public.orders (to prevent wraparound)"),
        lock(90, "ShareUpdateExclusiveLock", True),
        session(150, "ALTER TABLE orders ADD COLUMN x int"),
        lock(150, "AccessExclusiveLock", False, blocked_by=[90], wait=2.0),
        session(201, "SELECT * FROM orders"),
        lock(201, "AccessShareLock", False, wait=1.0),
    ]
    forest = build_forest(rows)
    line = describe_root(forest, forest.sessions[90])
    assert line.startswith(
        "anti-wraparound autovacuum pid 90 (active) holds SHARE UPDATE EXCLUSIVE on public.orders"
    )
    assert "let it finish" in remedies(forest)[0]


def test_mode_names_read_as_the_documentation_writes_them():
    assert mode_name("ShareRowExclusiveLock") == "SHARE ROW EXCLUSIVE"
    assert mode_name("AccessExclusiveLock") == "ACCESS EXCLUSIVE"


def test_a_row_lock_chain_is_as_deep_as_it_is_long():
    rows = []
    for position, pid in enumerate((10, 11, 12, 13)):
        rows.append(session(pid, f"UPDATE accounts SET note = note WHERE id = {position}"))
        key = f"(transactionid,,,,,,{pid},,,)"
        rows.append(target(key, locktype="transactionid", relation=None, xid=str(pid)))
        rows.append(lock(pid, "ExclusiveLock", True, key=key))
        if position:
            rows.append(
                lock(
                    pid,
                    "ShareLock",
                    False,
                    blocked_by=[pid - 1],
                    wait=1.0,
                    key=f"(transactionid,,,,,,{pid - 1},,,)",
                )
            )
    forest = build_forest(rows)
    assert forest.roots == [10] and forest.max_depth == 3
    assert [s.pid for s in forest.tree_order()] == [10, 11, 12, 13]


def test_a_cycle_not_yet_detected_stands_on_its_smallest_pid():
    rows = [
        session(20, "UPDATE a"),
        session(21, "UPDATE b"),
        lock(20, "ShareLock", False, blocked_by=[21], key="(transactionid,,,,,,21,,,)"),
        lock(21, "ShareLock", False, blocked_by=[20], key="(transactionid,,,,,,20,,,)"),
    ]
    forest = build_forest(rows)
    assert forest.roots == [20] and forest.sessions[20].in_cycle
    assert {r["pid"]: r["role"] for r in tree_table(forest).records()}[20] == "cycle"


def test_parallel_workers_are_named_by_their_leader():
    rows = [
        target(),
        session(100, "LOCK TABLE orders", state="idle in transaction"),
        lock(100, "AccessExclusiveLock", True),
        session(300, "SELECT count(*) FROM orders"),
        session(301, "SELECT count(*) FROM orders", leader=300),
        lock(300, "AccessShareLock", False, blocked_by=[100]),
        lock(301, "AccessShareLock", False, blocked_by=[100]),
    ]
    forest = build_forest(rows)
    assert forest.roots == [100] and forest.blocked_in_total(100) == 2


@pytest.mark.parametrize(
    ("parts", "named"),
    [
        ({"locktype": "page", "relation": "public.orders", "page": 7}, "page 7 of public.orders"),
        ({"locktype": "extend", "relation": "public.orders"}, "the extension of public.orders"),
        (
            {"locktype": "tuple", "relation": "public.orders", "page": 0, "tuple": 3},
            "row (0,3) of public.orders",
        ),
        ({"locktype": "object", "object": "role billing"}, "role billing"),
        ({"locktype": "virtualxid", "virtualxid": "4/12"}, "the end of transaction 4/12"),
        (
            {"locktype": "relation", "relation_oid": 16391, "datname": "billing"},
            "relation 16391 in database billing (connect there to name it)",
        ),
        (
            {"locktype": "relation", "relation_oid": 16396},
            "a relation not yet committed (a new table or index)",
        ),
        ({"locktype": "spectoken"}, "a spectoken lock"),
    ],
)
def test_every_lock_type_is_named_as_people_say_it(parts, named):
    assert LockTarget(**parts).name == named


def test_the_tree_keeps_its_row_cap_roots_first_and_counts_the_rest_exactly():
    readers = range(1000, 1000 + TREE_ROWS + 50)
    rows = [
        target(),
        session(100, "SELECT count(*) FROM orders", state="idle in transaction", age=600),
        lock(100, "AccessShareLock", True),
        session(150, "ALTER TABLE orders ADD COLUMN refunded boolean"),
        lock(150, "AccessExclusiveLock", False, blocked_by=[100], wait=30.0),
        *(session(pid, "SELECT * FROM orders") for pid in readers),
        *(lock(pid, "AccessShareLock", False, wait=3.0) for pid in readers),
    ]
    forest = build_forest(rows)
    tree = tree_table(forest)
    assert len(tree.rows) == TREE_ROWS and tree.omitted == len(readers) + 2 - TREE_ROWS
    kept = tree.records()
    assert [r["role"] for r in kept[:2]] == ["root", "queued migration"]
    assert all(r["role"] == "waiting" and r["blocked_by"] == "150" for r in kept[2:])
    # What is counted is counted over every session, not the rows kept.
    assert forest.blocked_in_total(100) == len(readers) + 1 and len(forest.waiters) == len(readers) + 1
    (root,) = roots_table(forest).records()
    assert root["blocks_in_total"] == len(readers) + 1 and root["blocks_directly"] == 1


def test_a_tree_under_its_cap_leaves_nothing_out():
    rows = [
        target(),
        session(100, "ALTER TABLE orders ADD COLUMN x int", state="idle in transaction"),
        lock(100, "AccessExclusiveLock", True),
        session(201, "SELECT 1 FROM orders"),
        lock(201, "AccessShareLock", False, wait=1.0),
    ]
    tree = tree_table(build_forest(rows), limit=2)
    assert len(tree.rows) == 2 and tree.omitted == 0
    assert tree_table(build_forest(rows), limit=1).omitted == 1
