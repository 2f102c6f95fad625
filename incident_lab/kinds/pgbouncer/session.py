"""PgBouncer targets and the one way probes talk to them: the admin console, read-only.

The console speaks only the simple query protocol and knows no transactions, so the
session is autocommit and never prepares a statement (psycopg would prepare one it sees
five times, and PgBouncer 1.18 then closes the connection). It sends nothing but the
SHOW commands in `READ_ONLY`, each recorded as the probe's test; the commands that
change PgBouncer (PAUSE, RELOAD, KILL, SET…) cannot be sent through it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from incident_lab.exceptions import TargetError
from incident_lab.kinds.postgres.session import APPLICATION_NAME, PostgresTarget, ProbeCancelled

if TYPE_CHECKING:
    import psycopg

    from incident_lab.probe import Probe

CONSOLE_DATABASE = "pgbouncer"
READ_ONLY = ("POOLS", "STATS", "CLIENTS", "SERVERS", "CONFIG", "DATABASES", "LISTS", "VERSION")


@dataclass(frozen=True)
class PgBouncerTarget:
    """A PgBouncer admin console named by a libpq URI or conninfo."""

    conninfo: str = field(repr=False)
    label: str

    @classmethod
    def parse(cls, reference: str) -> PgBouncerTarget:
        from psycopg import conninfo as libpq

        target = PostgresTarget.parse(reference)  # the same references, secrets and labels
        database = libpq.conninfo_to_dict(target.conninfo).get("dbname")
        if database is None:
            return cls(libpq.make_conninfo(target.conninfo, dbname=CONSOLE_DATABASE), target.label)
        if database != CONSOLE_DATABASE:
            raise TargetError(
                f"a PgBouncer target names its admin console, database {CONSOLE_DATABASE}, not {database!r}"
            )
        return cls(target.conninfo, target.label)

    @classmethod
    def split_secret(cls, reference: str) -> tuple[str, str | None]:
        cls.parse(reference)
        return PostgresTarget.split_secret(reference)

    @contextmanager
    def session(self, probe: Probe, budget_seconds: float) -> Iterator[PgBouncerSession]:
        session = PgBouncerSession(self.conninfo, budget_seconds)
        try:
            yield session
        finally:
            session.close()


def _plain(value: Any) -> Any:
    """SHOW STATS answers in numeric: as int or float, like the other columns."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class PgBouncerSession:
    """The opened target handed to a PgBouncer probe."""

    def __init__(self, conninfo: str, budget_seconds: float) -> None:
        self._conninfo = conninfo
        self._budget = budget_seconds
        self._connection: psycopg.Connection[Any] | None = None
        self._cancelled = False
        self.tested: list[str] = []

    def __repr__(self) -> str:
        return "<PgBouncerSession>"

    def show(self, what: str) -> list[dict[str, Any]]:
        """The rows of `SHOW WHAT` (one of `READ_ONLY`), as dicts."""
        import psycopg
        from psycopg.rows import dict_row

        command = what.strip().upper()
        if command not in READ_ONLY:
            raise ValueError(f"SHOW {what} is not one of the console's read-only commands {READ_ONLY}")
        if self._cancelled:
            raise ProbeCancelled("the probe's budget ran out")
        if self._connection is None:
            self._connection = psycopg.connect(
                self._conninfo,
                autocommit=True,
                prepare_threshold=None,
                application_name=APPLICATION_NAME,
                connect_timeout=max(2, min(10, int(self._budget / 2))),
            )
        self.tested.append(f"SHOW {command};")
        with self._connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(f"SHOW {command}")  # type: ignore[arg-type]
            return [{name: _plain(value) for name, value in row.items()} for row in cursor.fetchall()]

    def cancel(self) -> None:
        """Send nothing more; the console answers at once, so there is nothing to interrupt."""
        self._cancelled = True

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # a console that went away has nothing to close
                self._connection.close()
            self._connection = None
