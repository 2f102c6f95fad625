"""Real contention made by real sessions: for the demo, the tests and the benchmarks.

Each scenario is a context manager that opens its own connections (marked with
`application_name=incident_lab_scenario`), waits until the server shows the expected
number of lock waiters (polling, never sleeping a fixed time), and on exit terminates
every session it made. Waiting statements are sent without waiting for their answer,
so a thousand waiters need a thousand connections but no threads.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

SCENARIO_APPLICATION = "incident_lab_scenario"


def connect(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True, application_name=SCENARIO_APPLICATION)


def send_without_waiting(connection: psycopg.Connection[Any], statement: str) -> None:
    """Start a statement that will block; its session is ended by the scenario's cleanup."""
    connection.pgconn.send_query(statement.encode())


def lock_waiters(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_catalog.pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def wait_for_lock_waiters(dsn: str, expected: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (seen := lock_waiters(dsn)) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"expected {expected} lock waiters, saw {seen}")
        time.sleep(0.02)


def end_scenario_sessions(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            [SCENARIO_APPLICATION],
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE application_name = %s",
                [SCENARIO_APPLICATION],
            ).fetchone()
            if not row or row[0] == 0:
                break
            time.sleep(0.02)


@contextmanager
def sessions(dsn: str) -> Iterator[list[psycopg.Connection[Any]]]:
    """Connections that are all ended, whatever state they are in, on exit."""
    opened: list[psycopg.Connection[Any]] = []
    try:
        yield opened
    finally:
        end_scenario_sessions(dsn)
        for connection in opened:
            connection.close()


def create_table(dsn: str, table: str, rows: int = 10) -> None:
    """A small table to contend on, unless the database already has one by that name."""
    statement = sql.SQL(
        "CREATE TABLE {table} (id int PRIMARY KEY, note text);"
        "INSERT INTO {table} SELECT g, 'row ' || g FROM generate_series(1, {rows}) g"
    ).format(table=sql.Identifier(table), rows=sql.Literal(rows))
    with psycopg.connect(dsn, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT pg_catalog.to_regclass(%s) IS NOT NULL", [f'"{table}"']
        ).fetchone()
        if not (exists and exists[0]):
            connection.execute(statement)


@contextmanager
def migration_holds_lock(
    dsn: str, table: str = "orders", readers: int = 3, reader_statement: str | None = None
) -> Iterator[int]:
    """A migration's ALTER TABLE holds ACCESS EXCLUSIVE, uncommitted; readers queue behind it
    (each running `reader_statement`, a count of the table by default).
    Yields the migration's backend pid."""
    create_table(dsn, table)
    with sessions(dsn) as opened:
        migration = connect(dsn)
        opened.append(migration)
        migration.execute("BEGIN")
        migration.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS shipped_at timestamptz").format(
                sql.Identifier(table)
            )
        )
        _start_readers(dsn, table, readers, opened, reader_statement)
        wait_for_lock_waiters(dsn, readers)
        yield migration.info.backend_pid


@contextmanager
def transaction_holds_lock(
    dsn: str, statements: Sequence[str], waiter_statement: str, waiters: int = 3
) -> Iterator[int]:
    """A transaction runs `statements` (a TRUNCATE, a CREATE INDEX, a foreign key…) and stays
    open; `waiters` sessions run `waiter_statement` and queue behind its locks.
    Yields the transaction's backend pid."""
    with sessions(dsn) as opened:
        holder = connect(dsn)
        opened.append(holder)
        holder.execute("BEGIN")
        for statement in statements:
            holder.execute(statement)  # type: ignore[arg-type]
        _start_waiters(dsn, waiter_statement, waiters, opened)
        wait_for_lock_waiters(dsn, waiters)
        yield holder.info.backend_pid


@contextmanager
def maintenance_holds_lock(
    dsn: str, statement: str, waiter_statement: str, table: str = "orders", waiters: int = 3
) -> Iterator[int]:
    """`statement` (VACUUM FULL, CLUSTER or REINDEX of `table`) runs and takes its time while
    `waiters` sessions queue behind it: an index on the table calls a function that sleeps
    in the maintenance session only, as a big table would keep it busy. Yields its pid."""
    create_table(dsn, table)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(SLOW_KEY)
        connection.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (incident_lab_slow_key(id))").format(
                sql.Identifier(f"{table}_slow_key"), sql.Identifier(table)
            )
        )
    with sessions(dsn) as opened:
        maintenance = connect(dsn)
        opened.append(maintenance)
        maintenance.execute("SET incident_lab.scenario_sleep = 600")
        send_without_waiting(maintenance, statement)
        _wait_until(dsn, "wait_event = 'PgSleep' AND pid = %s", maintenance.info.backend_pid)
        _start_waiters(dsn, waiter_statement, waiters, opened)
        wait_for_lock_waiters(dsn, waiters)
        yield maintenance.info.backend_pid


# IMMUTABLE, though it is not, so that an index may use it; it sleeps only where the
# session set incident_lab.scenario_sleep, so building the index at set-up is quick.
SLOW_KEY = """
CREATE OR REPLACE FUNCTION incident_lab_slow_key(key int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM pg_catalog.pg_sleep(COALESCE(NULLIF(pg_catalog.current_setting(
        'incident_lab.scenario_sleep', true), ''), '0')::float8);
    RETURN key;
END $$
"""


@contextmanager
def concurrent_index_waits_for_snapshot(dsn: str, table: str = "orders") -> Iterator[tuple[int, int]]:
    """CREATE INDEX CONCURRENTLY waits for every older snapshot to go away: a repeatable-read
    transaction left open after one SELECT keeps it waiting (on that transaction's virtual
    xid), though neither holds a lock on the table that conflicts.
    Yields (the old transaction's pid, the index build's pid)."""
    create_table(dsn, table)
    with sessions(dsn) as opened:
        old = connect(dsn)
        opened.append(old)
        old.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        old.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        build = connect(dsn)
        opened.append(build)
        send_without_waiting(build, f'CREATE INDEX CONCURRENTLY "{table}_note_idx" ON "{table}" (note)')
        wait_for_lock_waiters(dsn, 1)
        yield old.info.backend_pid, build.info.backend_pid


@contextmanager
def advisory_lock_held(dsn: str, key: str = "4242", waiters: int = 2) -> Iterator[int]:
    """A session takes the session-level advisory lock `key` ("4242", or "1, 2" for the two-key
    form) as a migration tool does, and goes idle; `waiters` sessions ask for the same lock.
    Yields the holder's pid."""
    with sessions(dsn) as opened:
        holder = connect(dsn)
        opened.append(holder)
        holder.execute(f"SELECT pg_catalog.pg_advisory_lock({key})")  # type: ignore[arg-type]
        _start_waiters(dsn, f"SELECT pg_catalog.pg_advisory_lock({key})", waiters, opened)
        wait_for_lock_waiters(dsn, waiters)
        yield holder.info.backend_pid


@contextmanager
def prepared_transaction_holds_row(
    dsn: str, gid: str = "checkout-42", table: str = "carts", waiters: int = 2
) -> Iterator[str]:
    """A two-phase commit left half done: a transaction updated a row and was prepared, so
    no session runs it any more; `waiters` sessions wait for that row. The server needs
    max_prepared_transactions above 0. Yields the gid; rolls it back on exit."""
    create_table(dsn, table)
    with sessions(dsn) as opened:
        try:
            holder = connect(dsn)
            opened.append(holder)
            holder.execute("BEGIN")
            holder.execute(
                sql.SQL("UPDATE {} SET note = 'prepared' WHERE id = 1").format(sql.Identifier(table))
            )
            holder.execute(sql.SQL("PREPARE TRANSACTION {}").format(sql.Literal(gid)))
            _start_waiters(dsn, f"UPDATE \"{table}\" SET note = 'waiting' WHERE id = 1", waiters, opened)
            wait_for_lock_waiters(dsn, waiters)
            yield gid
        finally:
            with psycopg.connect(dsn, autocommit=True) as connection:
                if connection.execute(
                    "SELECT 1 FROM pg_catalog.pg_prepared_xacts WHERE gid = %s", [gid]
                ).fetchone():
                    connection.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(gid)))


@contextmanager
def anti_wraparound_autovacuum(
    dsn: str, table: str = "ledger", readers: int = 2
) -> Iterator[tuple[int, int]]:
    """Autovacuum runs "to prevent wraparound" on `table` (which, unlike an ordinary
    autovacuum, does not give way to lock requests); a migration's ALTER TABLE queues behind
    it and `readers` queue behind the ALTER. Made real: the table's freeze age is set to the
    least allowed (100,000 transactions), that many transactions are used up, autovacuum
    wakes every second (until exit) and is slowed by a cost delay.
    Yields (the autovacuum worker's pid, the migration's pid)."""
    name = sql.Identifier(table)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            sql.SQL(
                "CREATE TABLE {} (id int, pad text) WITH (autovacuum_freeze_max_age = 100000,"
                " autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)"
            ).format(name)
        )
        connection.execute(
            sql.SQL("INSERT INTO {} SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g").format(name)
        )
        connection.execute(
            "DO $$ BEGIN FOR i IN 1..100001 LOOP PERFORM pg_catalog.txid_current(); COMMIT; END LOOP; END $$"
        )
        connection.execute("ALTER SYSTEM SET autovacuum_naptime = 1")
        connection.execute("SELECT pg_catalog.pg_reload_conf()")
        worker = 0
        try:
            with sessions(dsn) as opened:
                # A table never analysed is vacuumed and analysed in one go: "VACUUM ANALYZE public.ledger".
                shown = rf"^autovacuum: VACUUM (ANALYZE )?public\.{table} \(to prevent wraparound\)$"
                _wait_until(dsn, "query ~ %s", shown)
                row = connection.execute(
                    "SELECT pid FROM pg_catalog.pg_stat_activity WHERE query ~ %s", [shown]
                ).fetchone()
                worker = row[0] if row else 0
                migration = connect(dsn)
                opened.append(migration)
                send_without_waiting(migration, f'ALTER TABLE "{table}" ADD COLUMN archived boolean')
                wait_for_lock_waiters(dsn, 1)
                _start_readers(dsn, table, readers, opened)
                wait_for_lock_waiters(dsn, readers + 1)
                yield worker, migration.info.backend_pid
        finally:
            connection.execute("ALTER SYSTEM RESET autovacuum_naptime")
            connection.execute("SELECT pg_catalog.pg_reload_conf()")
            _drop_despite_autovacuum(connection, name)


@contextmanager
def migration_queued(dsn: str, table: str = "orders", readers: int = 3) -> Iterator[tuple[int, int]]:
    """An old transaction holds ACCESS SHARE; a migration waits for ACCESS EXCLUSIVE behind it
    and readers queue behind the migration. Yields (old transaction pid, migration pid)."""
    create_table(dsn, table)
    with sessions(dsn) as opened:
        old = connect(dsn)
        opened.append(old)
        old.execute("BEGIN")
        old.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        migration = connect(dsn)
        opened.append(migration)
        send_without_waiting(migration, f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS refunded boolean')
        wait_for_lock_waiters(dsn, 1)
        _start_readers(dsn, table, readers, opened)
        wait_for_lock_waiters(dsn, readers + 1)
        yield old.info.backend_pid, migration.info.backend_pid


@contextmanager
def row_lock_chain(dsn: str, depth: int = 3, table: str = "accounts") -> Iterator[list[int]]:
    """Session k holds row k+1 and waits for row k, held by session k-1: a chain `depth` deep.
    Yields the pids from the root holder down."""
    create_table(dsn, table, rows=depth + 1)
    with sessions(dsn) as opened:
        chain = []
        for position in range(depth + 1):
            session = connect(dsn)
            opened.append(session)
            session.execute("BEGIN")
            session.execute(f'UPDATE "{table}" SET note = note WHERE id = {position + 1}')
            chain.append(session)
        for position in range(1, depth + 1):
            send_without_waiting(chain[position], f'UPDATE "{table}" SET note = note WHERE id = {position}')
            wait_for_lock_waiters(dsn, position)
        yield [session.info.backend_pid for session in chain]


@contextmanager
def idle_transaction_blocking(dsn: str, table: str = "carts", waiters: int = 1) -> Iterator[int]:
    """A session updated a row and went idle in transaction; others wait for that row.
    Yields the idle session's pid."""
    create_table(dsn, table)
    with sessions(dsn) as opened:
        idle = connect(dsn)
        opened.append(idle)
        idle.execute("BEGIN")
        idle.execute(f"UPDATE \"{table}\" SET note = 'held' WHERE id = 1")
        for _ in range(waiters):
            waiter = connect(dsn)
            opened.append(waiter)
            send_without_waiting(waiter, f"UPDATE \"{table}\" SET note = 'waiting' WHERE id = 1")
        wait_for_lock_waiters(dsn, waiters)
        yield idle.info.backend_pid


@contextmanager
def vacuum_waits_for_buffer_pin(dsn: str, table: str = "orders") -> Iterator[int]:
    """A cursor left open on `table` pins its first page; VACUUM (FREEZE), which must clean
    that page, waits for the pin (wait event BufferPin: no heavyweight lock, so nothing
    for pg_blocking_pids to see). Yields the VACUUM's pid."""
    create_table(dsn, table)
    with sessions(dsn) as opened:
        reader = connect(dsn)
        opened.append(reader)
        reader.execute("BEGIN")
        reader.execute(sql.SQL("DECLARE pinned CURSOR FOR SELECT * FROM {}").format(sql.Identifier(table)))
        reader.execute("FETCH 1 FROM pinned")
        vacuum = connect(dsn)
        opened.append(vacuum)
        send_without_waiting(vacuum, f'VACUUM (FREEZE) "{table}"')
        _wait_until(dsn, "wait_event_type = 'BufferPin' AND pid = %s", vacuum.info.backend_pid)
        yield vacuum.info.backend_pid


@contextmanager
def open_transaction(dsn: str) -> Iterator[int]:
    """A transaction that took an xid and stays open. Yields its pid."""
    with sessions(dsn) as opened:
        session = connect(dsn)
        opened.append(session)
        session.execute("BEGIN")
        session.execute("SELECT pg_catalog.txid_current()")
        yield session.info.backend_pid


@contextmanager
def idle_connections(dsn: str, count: int) -> Iterator[list[psycopg.Connection[Any]]]:
    """`count` idle client sessions, as a leaking connection pool leaves them."""
    with sessions(dsn) as opened:
        for _ in range(count):
            opened.append(connect(dsn))
        yield opened


def deadlock(dsn: str, table: str = "inventory") -> None:
    """Two sessions update two rows in opposite order; the server kills one of them."""
    create_table(dsn, table, rows=2)
    with sessions(dsn) as opened:
        first, second = connect(dsn), connect(dsn)
        opened += [first, second]
        for session, row in ((first, 1), (second, 2)):
            session.execute("BEGIN")
            session.execute(f'UPDATE "{table}" SET note = note WHERE id = {row}')
        send_without_waiting(first, f'UPDATE "{table}" SET note = note WHERE id = 2')
        wait_for_lock_waiters(dsn, 1)
        # Either session may be the one the server aborts; both outcomes are the deadlock.
        with contextlib.suppress(psycopg.errors.DeadlockDetected):
            second.execute(f'UPDATE "{table}" SET note = note WHERE id = 1')
        second.close()
        opened.remove(second)


def _drop_despite_autovacuum(connection: psycopg.Connection[Any], table: sql.Identifier) -> None:
    """Drop a table an anti-wraparound autovacuum works on: it would not give way to the DROP,
    and the launcher may start another worker on it, so end the workers and try again."""
    connection.execute("SET lock_timeout = '1s'")
    for _ in range(10):
        connection.execute(
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity"
            " WHERE backend_type = 'autovacuum worker' AND datname = pg_catalog.current_database()"
        )
        with contextlib.suppress(psycopg.errors.LockNotAvailable):
            connection.execute(sql.SQL("DROP TABLE {}").format(table))
            return
    raise TimeoutError("autovacuum kept the scenario's table")


def _wait_until(dsn: str, condition: str, *params: Any, timeout: float = 30.0) -> None:
    """Poll pg_stat_activity until a session matches `condition`."""
    query = f"SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE {condition}"
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as connection:
        while not (connection.execute(query, params).fetchone() or [0])[0]:  # type: ignore[arg-type]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no session in pg_stat_activity where {condition}")
            time.sleep(0.02)


def _start_waiters(dsn: str, statement: str, count: int, opened: list[psycopg.Connection[Any]]) -> None:
    for _ in range(count):
        waiter = connect(dsn)
        opened.append(waiter)
        send_without_waiting(waiter, statement)


def _start_readers(
    dsn: str, table: str, count: int, opened: list[psycopg.Connection[Any]], statement: str | None = None
) -> None:
    for _ in range(count):
        reader = connect(dsn)
        opened.append(reader)
        send_without_waiting(reader, statement or f'SELECT count(*) FROM "{table}"')
