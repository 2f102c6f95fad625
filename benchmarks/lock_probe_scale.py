"""Lock probe at scale: what `postgres.lock_contention` costs with up to a thousand
waiting sessions, against what engineers would otherwise run, in the same run.

Shapes, each on a server with `max_connections` sized for it (100, or the sessions
plus headroom): one session holds ACCESS EXCLUSIVE with N readers queued behind it; a
migration queued behind an old transaction with N readers behind the migration (each
reader soft-blocked, the case `pg_blocking_pids` exists for); a row-lock chain 50 deep.
Four queries run interleaved against each:

- bare: `SELECT … FROM pg_stat_activity`, the floor any lock query stands on;
- pg_locks: `SELECT * FROM pg_locks`, the floor of any answer read from the lock table;
- probe: the probe's own SQL (`probes/postgres/sql/lock_tree*.sql`);
- wiki: the classic PostgreSQL-wiki self-join of `pg_locks`;
- blocking_pids: `pg_blocking_pids(pid)` for every backend in `pg_stat_activity`.

Server time is planning plus execution from `EXPLAIN (ANALYZE, TIMING OFF)` (the
embedded build has no pg_stat_statements). End to end is what a person waits for: a
fresh TCP login, the query and every row fetched; for the probe, `incident_lab.run`,
which also builds the blocking forest and its evidence tables. Each shape also checks
that the probe's blocking tree is exactly what `pg_blocking_pids` says, waiter by waiter.

    .venv/bin/python benchmarks/lock_probe_scale.py            # 10, 100, 500, 1000 waiters
    .venv/bin/python benchmarks/lock_probe_scale.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

import incident_lab
from incident_lab import scenarios
from incident_lab.kinds.postgres.blocking import build_forest, roots_table, tree_table
from incident_lab.kinds.postgres.session import PostgresSession, PostgresTarget
from incident_lab.runner import default_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Server, embedded_server, machine, median, ms, print_machine, print_table, ratio

SIZES = (10, 100, 500, 1000)
CHAIN_DEPTH = 50
DATABASE = "shop"
PROBE_ID = "postgres.lock_contention"
# Room beyond the waiting sessions for the holders, the probe and the comparisons.
HEADROOM = 60

BARE = (
    "SELECT pid, datname, state, wait_event_type, wait_event, xact_start, query"
    " FROM pg_catalog.pg_stat_activity"
)
# As published on the PostgreSQL wiki's Lock Monitoring page.
WIKI = """
SELECT blocked_locks.pid AS blocked_pid,
       blocked_activity.usename AS blocked_user,
       blocking_locks.pid AS blocking_pid,
       blocking_activity.usename AS blocking_user,
       blocked_activity.query AS blocked_statement,
       blocking_activity.query AS current_statement_in_blocking_process
FROM pg_catalog.pg_locks blocked_locks
JOIN pg_catalog.pg_stat_activity blocked_activity ON blocked_activity.pid = blocked_locks.pid
JOIN pg_catalog.pg_locks blocking_locks
    ON blocking_locks.locktype = blocked_locks.locktype
    AND blocking_locks.database IS NOT DISTINCT FROM blocked_locks.database
    AND blocking_locks.relation IS NOT DISTINCT FROM blocked_locks.relation
    AND blocking_locks.page IS NOT DISTINCT FROM blocked_locks.page
    AND blocking_locks.tuple IS NOT DISTINCT FROM blocked_locks.tuple
    AND blocking_locks.virtualxid IS NOT DISTINCT FROM blocked_locks.virtualxid
    AND blocking_locks.transactionid IS NOT DISTINCT FROM blocked_locks.transactionid
    AND blocking_locks.classid IS NOT DISTINCT FROM blocked_locks.classid
    AND blocking_locks.objid IS NOT DISTINCT FROM blocked_locks.objid
    AND blocking_locks.objsubid IS NOT DISTINCT FROM blocked_locks.objsubid
    AND blocking_locks.pid != blocked_locks.pid
JOIN pg_catalog.pg_stat_activity blocking_activity ON blocking_activity.pid = blocking_locks.pid
WHERE NOT blocked_locks.granted
"""
BLOCKING_PIDS = (
    "SELECT pid, pg_catalog.pg_blocking_pids(pid) AS blocked_by, state, query"
    " FROM pg_catalog.pg_stat_activity"
)
# Every answer built on pg_locks pays for reading it: a pass over every backend's slot.
PG_LOCKS = "SELECT * FROM pg_catalog.pg_locks"
QUERIES = ("bare", "pg_locks", "probe", "wiki", "blocking_pids")

# Tiny sizes for --quick and the test suite: every step runs; the figures mean nothing.
QUICK: dict[str, Any] = {"sizes": [3], "chain_depth": 3, "repeats": 1}


@dataclass
class Measured:
    shape: str
    waiting: int
    max_connections: int
    server: dict[str, float]
    probe_planning: float
    end_to_end: dict[str, float]
    probe_server_calls: int
    exact: bool
    probe_steps: dict[str, float]


def probe_sql(dsn: str) -> str:
    """The probe's SQL as it runs on this server's version."""
    session = PostgresSession(dsn, default_registry().get(PROBE_ID).module_dir / "sql", 10.0)
    try:
        return session.sql("lock_tree")
    finally:
        session.close()


def server_seconds(connection: psycopg.Connection[Any], query: str) -> tuple[float, float]:
    """Planning and execution time of `query`, as the server measured them."""
    # The parameter spelled out: EXPLAIN cannot plan a statement with an unbound one.
    text = query.replace("%(all_databases)s", "false")
    row = connection.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {text}").fetchone()
    assert row is not None
    plan = row[0][0]
    return plan["Planning Time"] / 1000, plan["Execution Time"] / 1000


def fresh_login_query(dsn: str, query: str) -> Callable[[], Any]:
    def action() -> Any:
        with psycopg.connect(dsn, autocommit=True, application_name="benchmark") as connection:
            return connection.execute(query).fetchall()

    return action


def check_exact(dsn: str, text: str, attempts: int = 3) -> tuple[bool, int]:
    """Whether the probe's SQL and blocking forest name, for every waiting session, the
    blockers pg_blocking_pids names; and how often the SQL called pg_blocking_pids.
    The two are separate snapshots, so a session caught mid-change gets another look."""
    for attempt in range(attempts):
        with psycopg.connect(dsn, autocommit=True) as connection:
            truth = {
                pid: set(blockers)
                for pid, blockers in connection.execute(
                    "SELECT pid, pg_catalog.pg_blocking_pids(pid) FROM pg_catalog.pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = pg_catalog.current_database()"
                ).fetchall()
            }
            with connection.cursor(row_factory=dict_row) as cursor:
                rows = cursor.execute(text, {"all_databases": False}).fetchall()
        found = {session.pid: set(session.blocked_by) for session in build_forest(rows).waiters}
        calls = sum(1 for row in rows if row["kind"] == "lock" and row["blocked_by"] is not None)
        if found == truth:
            return True, calls
        differing = sorted(pid for pid in found.keys() | truth.keys() if found.get(pid) != truth.get(pid))
        print(
            f"    attempt {attempt + 1}: {len(differing)} sessions differ, e.g. "
            + "; ".join(
                f"pid {pid}: probe {found.get(pid)}, server {truth.get(pid)}" for pid in differing[:3]
            ),
            file=sys.stderr,
        )
    return False, calls


def probe_steps(dsn: str, repeats: int) -> dict[str, float]:
    """Where the probe's end-to-end time goes: the same steps `incident_lab.run` takes."""
    probe = default_registry().get(PROBE_ID)
    steps: dict[str, list[float]] = {"run": [], "login": [], "query": [], "forest": [], "evidence": []}
    for _ in range(repeats):
        started = time.perf_counter()
        incident_lab.run(PROBE_ID, dsn)
        steps["run"].append(time.perf_counter() - started)
        with PostgresTarget.parse(dsn).session(probe, probe.budget_seconds) as session:
            clock = time.perf_counter()
            session.connect()
            steps["login"].append(time.perf_counter() - clock)
            clock = time.perf_counter()
            rows = session.query("lock_tree", {"all_databases": False})
            steps["query"].append(time.perf_counter() - clock)
        clock = time.perf_counter()
        forest = build_forest(rows)
        steps["forest"].append(time.perf_counter() - clock)
        clock = time.perf_counter()
        tree_table(forest)
        roots_table(forest)
        steps["evidence"].append(time.perf_counter() - clock)
    medians = {name: median(values) for name, values in steps.items()}
    medians["result"] = max(0.0, medians.pop("run") - sum(medians.values()))
    return medians


def measure(server: Server, shape: str, waiting: int, max_connections: int, repeats: int) -> Measured:
    socket_dsn, tcp_dsn = server.socket_dsn(DATABASE), server.tcp_dsn(DATABASE)
    texts = {
        "bare": BARE,
        "pg_locks": PG_LOCKS,
        "probe": probe_sql(socket_dsn),
        "wiki": WIKI,
        "blocking_pids": BLOCKING_PIDS,
    }
    exact, calls = check_exact(socket_dsn, texts["probe"])
    steps = probe_steps(tcp_dsn, max(1, min(repeats, 3)))
    end_to_end_actions: dict[str, Callable[[], Any]] = {
        name: fresh_login_query(tcp_dsn, text) for name, text in texts.items() if name != "probe"
    }
    end_to_end_actions["probe"] = lambda: incident_lab.run(PROBE_ID, tcp_dsn)
    server_times: dict[str, list[float]] = {name: [] for name in QUERIES}
    probe_planning: list[float] = []
    end_to_end_times: dict[str, list[float]] = {name: [] for name in QUERIES}
    with psycopg.connect(socket_dsn, autocommit=True, application_name="benchmark") as connection:
        for name in QUERIES:  # warm the catalog caches, untimed
            server_seconds(connection, texts[name])
        for _ in range(repeats):  # interleaved, so that drift hits every query alike
            for name in QUERIES:
                planning, execution = server_seconds(connection, texts[name])
                server_times[name].append(planning + execution)
                if name == "probe":
                    probe_planning.append(planning)
                started = time.perf_counter()
                end_to_end_actions[name]()
                end_to_end_times[name].append(time.perf_counter() - started)
    return Measured(
        shape,
        waiting,
        max_connections,
        {name: median(values) for name, values in server_times.items()},
        median(probe_planning),
        {name: median(values) for name, values in end_to_end_times.items()},
        calls,
        exact,
        steps,
    )


@contextlib.contextmanager
def shape_holds(dsn: str, readers: int) -> Iterator[int]:
    with scenarios.migration_holds_lock(dsn, table="orders", readers=readers):
        yield readers


@contextlib.contextmanager
def shape_queued(dsn: str, readers: int) -> Iterator[int]:
    with scenarios.migration_queued(dsn, table="orders", readers=readers):
        yield readers + 1


@contextlib.contextmanager
def shape_chain(dsn: str, depth: int) -> Iterator[int]:
    with scenarios.row_lock_chain(dsn, depth=depth):
        yield depth


Shape = Callable[[str, int], contextlib.AbstractContextManager[int]]


def run(sizes: Sequence[int] = SIZES, chain_depth: int = CHAIN_DEPTH, repeats: int = 9) -> dict[str, Any]:
    """Measure every shape at every size; print the tables and return the figures."""
    shapes: list[tuple[str, Shape]] = [
        ("ACCESS EXCLUSIVE held, N readers", shape_holds),
        ("migration queued, N readers", shape_queued),
    ]
    servers: list[tuple[int, list[tuple[str, Shape, int]]]] = [
        (size, [(name, make, size) for name, make in shapes]) for size in sizes
    ]
    servers.append((chain_depth, [(f"row-lock chain {chain_depth} deep", shape_chain, chain_depth)]))
    measured: list[Measured] = []
    facts: dict[str, str] = {}
    for sessions, cases in servers:
        max_connections = max(100, sessions + HEADROOM)
        with embedded_server(max_connections=max_connections) as server:
            server.create_database(DATABASE)
            facts = facts or machine(server.version())
            for shape, make, size in cases:
                print(f"  {shape}: {size} …", file=sys.stderr)
                with make(server.socket_dsn(DATABASE), size) as waiting:
                    # The wiki query takes seconds at a thousand: fewer repeats settle the medians.
                    count = repeats if size <= 500 else max(3, repeats // 2)
                    measured.append(measure(server, shape, waiting, max_connections, count))
    print_machine(facts)
    report(measured)
    return {"machine": facts, "measured": measured}


def report(measured: list[Measured]) -> None:
    headers = [
        "shape",
        "waiting",
        "bare pg_stat_activity",
        "pg_locks alone",
        "probe (of which planning)",
        "wiki self-join",
        "pg_blocking_pids, all",
        "wiki ÷ probe",
        "pg_blocking_pids ÷ probe",
        "probe ÷ bare",
        "probe per waiter",
    ]
    rows = [
        [
            m.shape,
            m.waiting,
            ms(m.server["bare"]),
            ms(m.server["pg_locks"]),
            f"{ms(m.server['probe'])} ({ms(m.probe_planning)})",
            ms(m.server["wiki"]),
            ms(m.server["blocking_pids"]),
            ratio(m.server["wiki"], m.server["probe"]),
            ratio(m.server["blocking_pids"], m.server["probe"]),
            ratio(m.server["probe"], m.server["bare"]),
            f"{m.server['probe'] / m.waiting * 1e6:.1f} µs",
        ]
        for m in measured
    ]
    print_table(headers, rows, "Server time (planning + execution, EXPLAIN ANALYZE, median)")
    headers = [
        "shape",
        "waiting",
        "bare pg_stat_activity",
        "probe (incident_lab.run)",
        "wiki self-join",
        "pg_blocking_pids, all",
        "wiki ÷ probe",
        "pg_blocking_pids ÷ probe",
        "probe ÷ bare",
    ]
    rows = [
        [
            m.shape,
            m.waiting,
            ms(m.end_to_end["bare"]),
            ms(m.end_to_end["probe"]),
            ms(m.end_to_end["wiki"]),
            ms(m.end_to_end["blocking_pids"]),
            ratio(m.end_to_end["wiki"], m.end_to_end["probe"]),
            ratio(m.end_to_end["blocking_pids"], m.end_to_end["probe"]),
            ratio(m.end_to_end["probe"], m.end_to_end["bare"]),
        ]
        for m in measured
    ]
    print_table(headers, rows, "End to end (fresh TCP login, query, every row fetched; median)")
    headers = ["shape", "waiting", "max_connections", "pg_blocking_pids calls: probe", "exact"]
    rows = [
        [m.shape, m.waiting, m.max_connections, m.probe_server_calls, "yes" if m.exact else "NO"]
        for m in measured
    ]
    print_table(headers, rows, "The probe's answer (blockers per waiter, as pg_blocking_pids names them)")
    headers = [
        "shape",
        "waiting",
        "login",
        "lock_tree.sql, rows fetched",
        "blocking forest",
        "evidence tables",
        "the rest of run(): result, redaction",
    ]
    rows = [
        [
            m.shape,
            m.waiting,
            *(ms(m.probe_steps[step]) for step in ("login", "query", "forest", "evidence", "result")),
        ]
        for m in measured
    ]
    print_table(headers, rows, "Where the probe's end-to-end time goes (median)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")], default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    if args.quick:
        run(**QUICK)
    else:
        run(sizes=args.sizes, repeats=args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
