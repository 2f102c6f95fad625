"""PostgreSQL targets and sessions, opened the only way a probe may open them.

One connection per probe run, autocommit (so never idle in transaction), read-only by
default, with `connect_timeout`, `statement_timeout`, `lock_timeout` and
`application_name=incident_lab`. Behind a connection pooler that refuses or drops the
startup options carrying those settings (PgBouncer, in session or transaction pooling),
each statement runs in a short transaction of its own that sets them first (SET LOCAL),
so that they hold whichever server connection the pooler lends.

SQL is read from the probe's `sql/` folder, choosing the file written for the server's
version (`NAME_post_140000.sql` on 14 and later,
`NAME.sql` otherwise; a query with no `NAME.sql` needs the oldest version it has a file
for), and every statement sent is recorded as the probe's test.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from incident_lab.exceptions import IncidentLabError, TargetError
from incident_lab.kinds import secret_for
from incident_lab.probe import Finding, inconclusive, refuted
from incident_lab.redaction import register_secret

if TYPE_CHECKING:
    import psycopg

    from incident_lab.probe import Probe

APPLICATION_NAME = "incident_lab"
LOCK_TIMEOUT_MS = 500
STATEMENT_TIMEOUT_MS = 3000
TOO_MANY_CLIENTS = "53300"

SETTINGS_CHECK = (
    "SELECT pg_catalog.current_setting('default_transaction_read_only'),"
    " pg_catalog.current_setting('search_path')"
)
VISIBILITY_CHECK = """
SELECT r.rolsuper OR pg_catalog.pg_has_role(r.oid, 'pg_read_all_stats', 'USAGE') AS sees_all
FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user
"""

# PgBouncer's answer to the `options` startup parameter (unless told to ignore it).
POOLER_REFUSAL = "unsupported startup parameter"
CONNECT_TIMED_OUT = "connection timeout expired"  # libpq's words when connect_timeout passes
_VERSIONED_SQL = re.compile(r"^(?P<name>.+)_post_(?P<version>\d{6})\.sql$")
# Statements a cursor can hold (DECLARE takes a query); the others are run as they are.
QUERY_STATEMENT = re.compile(r"^\s*(\(\s*)*(SELECT|WITH|VALUES|TABLE)\b", re.IGNORECASE)


class ProbeCancelled(IncidentLabError):
    """The probe's budget ran out; it must not send anything more."""


class UnsupportedServer(IncidentLabError):
    """The server's version is older than the probe's SQL was written for."""


class UnsafeSession(IncidentLabError):
    """The server did not apply the settings that keep a probe harmless."""


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL server named by a libpq URI, keyword/value conninfo or service name."""

    conninfo: str = field(repr=False)
    label: str

    @classmethod
    def parse(cls, reference: str) -> PostgresTarget:
        from psycopg import conninfo as libpq

        reference = reference.strip()
        if not reference:
            raise TargetError("empty PostgreSQL target")
        if "://" in reference or "=" in reference:
            text = reference
        elif re.fullmatch(r"[A-Za-z0-9_.-]+", reference):
            text = f"service={reference}"
        else:
            # Not echoed: `app:secret@db` would show its password; `TargetKind.target` shows it redacted.
            raise TargetError("not a PostgreSQL URI, conninfo or service name")
        try:
            parts = libpq.conninfo_to_dict(text)
        except Exception as error:
            raise TargetError(f"malformed PostgreSQL target: {str(error).splitlines()[0]}") from None
        check_parts(parts)
        if "password" not in parts and (handed := secret_for(reference)):
            parts["password"] = handed
            text = libpq.make_conninfo(text, password=handed)
        register_secret(parts.get("password"))  # type: ignore[arg-type]
        return cls(text, _label(parts))

    @classmethod
    def split_secret(cls, reference: str) -> tuple[str, str | None]:
        """The reference without its password (as a URI or conninfo), and the password."""
        from psycopg import conninfo as libpq

        target = cls.parse(reference)
        parts = libpq.conninfo_to_dict(target.conninfo)
        password = parts.pop("password", None)
        if password is None:
            return reference, None
        if "://" not in reference:
            return libpq.make_conninfo("", **parts), str(password)
        # Remove only the password, so that sslmode and every other option stay as given.
        url = urlsplit(reference)
        userinfo, at, hosts = url.netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}@{hosts}" if at else hosts
        query = "&".join(p for p in url.query.split("&") if p and not p.lower().startswith("password="))
        return urlunsplit((url.scheme, netloc, url.path, query, url.fragment)), str(password)

    @contextmanager
    def session(self, probe: Probe | None, budget_seconds: float) -> Iterator[PostgresSession]:
        """The session a probe runs in (its `sql/` folder beside it), or, with no probe, one
        for an ad-hoc statement."""
        sql_dir = probe.module_dir / "sql" if probe is not None else Path()
        session = PostgresSession(self.conninfo, sql_dir, budget_seconds, catalog_only=probe is not None)
        try:
            yield session
        finally:
            session.close()


def check_parts(parts: Mapping[str, Any]) -> None:
    """Refuse what libpq would accept only to fail at connect time, where the failure would
    read as an outage: a port that is not a port, or no server named at all."""
    for port in str(parts.get("port", "")).split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise TargetError(f"malformed PostgreSQL target: port {port[:20]!r} is not a port number")
    named = any(parts.get(key) for key in ("host", "hostaddr", "service"))
    if not named and not (os.environ.get("PGHOST") or os.environ.get("PGSERVICE")):
        raise TargetError(
            "PostgreSQL target names no server: give host=…, a service name, or a URI with a host"
        )


def _label(parts: Mapping[str, Any]) -> str:
    """The target as people can safely read it: a URI without the password."""
    if "service" in parts and "host" not in parts:
        return f"service={parts['service']}"
    user = f"{quote(str(parts['user']))}@" if parts.get("user") else ""
    host = str(parts.get("host", ""))
    port = f":{parts['port']}" if parts.get("port") else ""
    database = quote(str(parts.get("dbname", "")))
    if host.startswith("/"):
        return f"postgresql://{user}{port}/{database}?host={host}"
    return f"postgresql://{user}{host}{port}/{database}"


def set_local(settings: Mapping[str, str]) -> str:
    """The statement that makes `settings` hold until the end of the current transaction."""
    return "SELECT " + ", ".join(f"pg_catalog.set_config('{name}', %({name})s, true)" for name in settings)


def is_too_many_clients(error: BaseException) -> bool:
    """True for the server's refusal of a new connection because every slot is taken."""
    return getattr(error, "sqlstate", None) == TOO_MANY_CLIENTS or any(
        phrase in str(error)
        for phrase in ("too many clients already", "remaining connection slots are reserved")
    )


class PostgresSession:
    """The opened target handed to a PostgreSQL probe.

    `catalog_only` (the default, and always for probes) runs with `search_path=pg_catalog`;
    a session for an engineer's own ad-hoc statement keeps the role's usual search_path,
    since that statement names the application's tables as the engineer knows them."""

    def __init__(
        self, conninfo: str, sql_dir: Path, budget_seconds: float, *, catalog_only: bool = True
    ) -> None:
        self._conninfo = conninfo
        self._sql_dir = sql_dir
        self._budget = budget_seconds
        self._catalog_only = catalog_only
        self._connection: psycopg.Connection[Any] | None = None
        self._cancelled = False
        self._sees_all_sessions: bool | None = None
        self._per_transaction: dict[str, str] | None = None  # settings to SET LOCAL, behind a pooler
        self.tested: list[str] = []
        self.server = ""

    def __repr__(self) -> str:
        return "<PostgresSession>"

    def connect(self) -> None:
        """Open the probe's one connection (queries do this on first use) and check that the
        server took the safety settings: a connection pooler may drop startup options."""
        if self._connection is not None:
            return
        if self._cancelled:
            raise ProbeCancelled("the probe's budget ran out before it connected")
        import psycopg

        statement_ms = max(1, int(min(STATEMENT_TIMEOUT_MS, self._budget * 500)))
        settings = {
            "statement_timeout": str(statement_ms),
            "lock_timeout": str(max(1, min(LOCK_TIMEOUT_MS, statement_ms))),
            "idle_in_transaction_session_timeout": str(statement_ms * 2),
            "default_transaction_read_only": "on",
        }
        if self._catalog_only:
            # Only the catalog's own functions and operators: a user's `||` or `<>` in
            # another schema must never run with the probe's privileges.
            settings["search_path"] = "pg_catalog"
        ours = " ".join(f"-c {name}={value}" for name, value in settings.items())
        given = psycopg.conninfo.conninfo_to_dict(self._conninfo).get("options", "")
        opening = {
            "application_name": APPLICATION_NAME,
            "connect_timeout": max(2, min(10, int(self._budget / 2))),
            "autocommit": True,
            # A pooler in transaction mode hands each transaction to any server connection,
            # where a statement prepared on another does not exist.
            "prepare_threshold": None,
        }
        try:
            self._connection = psycopg.connect(self._conninfo, options=f"{given} {ours}".strip(), **opening)
        except psycopg.OperationalError as error:
            if CONNECT_TIMED_OUT in str(error):
                # psycopg says only "connection timeout expired": say what waited, and how long.
                raise TimeoutError(
                    f"the server did not accept the connection within {opening['connect_timeout']} s "
                    "(connect_timeout)"
                ) from error
            if POOLER_REFUSAL not in str(error):
                raise
            self._connection = psycopg.connect(self._conninfo, **opening)
        self.server = f"PostgreSQL {self._connection.info.parameter_status('server_version') or '?'}"
        if self._applied(self._connection.execute(SETTINGS_CHECK).fetchone()):
            return
        # Behind a pooler that refused or dropped the startup options (PgBouncer): set them
        # again at the start of every transaction of ours, which no other client shares.
        # The transaction is already begun when they are set: its own read-only flag too.
        self._per_transaction = {**settings, "transaction_read_only": "on"}
        with self._connection.transaction():
            self._connection.execute(set_local(self._per_transaction), self._per_transaction)
            applied = self._connection.execute(SETTINGS_CHECK).fetchone()
            read_only = self._connection.execute("SHOW transaction_read_only").fetchone()
        if not self._applied(applied) or read_only != ("on",):
            raise UnsafeSession(
                "the server did not apply incident_lab's session settings (read-only, timeouts, "
                "search_path), even within a transaction: point the probe at PostgreSQL itself"
            )

    def _applied(self, applied: tuple[Any, ...] | None) -> bool:
        """Whether the server runs this session read-only (and, for probes, with the catalog's
        search_path only)."""
        read_only, search_path = applied or ("", "")
        return read_only == "on" and (not self._catalog_only or search_path == "pg_catalog")

    @property
    def sees_all_sessions(self) -> bool:
        """Whether this role sees every session's state and query (superuser or pg_read_all_stats);
        without it, other roles' sessions show no state and a probe cannot refute anything."""
        if self._sees_all_sessions is None:
            row = self.execute(VISIBILITY_CHECK)[0]
            self._sees_all_sessions = bool(row["sees_all"])
        return self._sees_all_sessions

    def refuted(self, summary: str, **details: Any) -> Finding:
        """Refute, if this session could see every session; otherwise say why it cannot tell."""
        if self.sees_all_sessions:
            return refuted(summary, **details)
        return inconclusive(
            "This role cannot see other roles' sessions (grant it pg_monitor or pg_read_all_stats), "
            f"so finding nothing proves nothing. What it saw: {summary}",
            **details,
        )

    @property
    def server_version_num(self) -> int:
        self.connect()
        assert self._connection is not None
        return self._connection.info.server_version

    def sql(self, name: str) -> str:
        """The text of `sql/NAME.sql` written for this server's version."""
        version = self.server_version_num
        versioned = [
            (int(match["version"]), path)
            for path in self._sql_dir.glob(f"{name}_post_*.sql")
            if (match := _VERSIONED_SQL.match(path.name)) and match["name"] == name
        ]
        candidates = [(since, path) for since, path in versioned if since <= version]
        path = max(candidates)[1] if candidates else self._sql_dir / f"{name}.sql"
        if versioned and not path.exists():  # only NAME_post_N.sql files: it needs a newer server
            raise UnsupportedServer(
                f"this probe needs PostgreSQL {min(versioned)[0] // 10000} or later; "
                f"the server runs {version // 10000}"
            )
        return path.read_text()

    def query(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        table: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Run the named SQL file and return its rows as dicts; `table` (schema, name)
        fills a `{table}` placeholder, quoted as an identifier."""
        text = self.sql(name)
        if table is not None:
            from psycopg import sql

            self.connect()
            assert self._connection is not None
            text = sql.SQL(text).format(table=sql.Identifier(*table)).as_string(self._connection)
        return self.execute(text, params)

    def execute(self, text: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one statement; it is recorded verbatim as part of the probe's test."""
        from psycopg.rows import dict_row

        if self._cancelled:
            raise ProbeCancelled("the probe's budget ran out")
        self.connect()
        assert self._connection is not None
        sent = text.strip() + (f"\n-- with {dict(params)}" if params else "")
        if not self.tested or self.tested[-1] != sent:  # a statement sampled over and over, once
            self.tested.append(sent)
        with self._connection.cursor(row_factory=dict_row) as cursor:
            if self._per_transaction is None:
                cursor.execute(text, params)  # type: ignore[arg-type]
                return cursor.fetchall() if cursor.description else []
            with self._connection.transaction():
                cursor.execute(set_local(self._per_transaction), self._per_transaction)
                cursor.execute(text, params)  # type: ignore[arg-type]
                return cursor.fetchall() if cursor.description else []

    def rows(
        self, text: str, params: Mapping[str, Any] | None, limit: int
    ) -> tuple[list[str], list[tuple[Any, ...]], int]:
        """One statement's columns, at most `limit` rows, and how many more rows it had. A
        query's rows stay on the server (a cursor in a read-only transaction, closed at
        once) so that a huge answer is counted there, never fetched; other statements
        (SHOW, EXPLAIN) are answered as they are."""
        if self._cancelled:
            raise ProbeCancelled("the probe's budget ran out")
        self.connect()
        assert self._connection is not None
        self.tested.append(text.strip() + (f"\n-- with {dict(params)}" if params else ""))
        with self._connection.transaction():
            if self._per_transaction is not None:  # behind a pooler: the settings, in this transaction
                self._connection.execute(set_local(self._per_transaction), self._per_transaction)
            if not QUERY_STATEMENT.match(text):
                with self._connection.cursor() as cursor:
                    cursor.execute(text, params)  # type: ignore[arg-type]
                    found = cursor.fetchmany(limit + 1) if cursor.description else []
                    columns = [c.name for c in cursor.description or []]
                    return columns, found[:limit], max(0, cursor.rowcount - limit)
            with self._connection.cursor(name="incident_lab_query") as cursor:
                cursor.execute(text, params)  # type: ignore[arg-type]
                found = cursor.fetchmany(limit)
                columns = [c.name for c in cursor.description or []]
                rest = self._connection.execute("MOVE FORWARD ALL IN incident_lab_query")
                return columns, found, int(rest.statusmessage.split()[-1]) if rest.statusmessage else 0

    def cancel(self) -> None:
        """Stop the running statement and any further one; called when the probe overruns its budget."""
        self._cancelled = True
        if self._connection is not None:
            # The budget is spent and the result already says so; a failed cancel adds nothing.
            with contextlib.suppress(Exception):
                self._connection.cancel_safe(timeout=1.0)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
