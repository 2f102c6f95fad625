"""The `postgres` kind: a PostgreSQL server, probed through one safe session.

Its references are libpq URIs, keyword/value conninfo or `pg_service.conf` service
names; its session is `PostgresSession` (read-only, timeouts, versioned SQL files,
safe behind PgBouncer); `blocking` builds the blocking forest the lock probes read and
`locks` names what it holds; `waits` adds up wait-event samples; `charts` draws their
results. With no hypotheses chosen, a PostgreSQL target gets the built-in PostgreSQL
probes of the template's hypotheses, the deadlock window shortened so that a run stays
quick; `postgres.wait_events` is chosen by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from incident_lab.kinds import DefaultHypothesis, TargetKind
from incident_lab.kinds.postgres.session import PostgresSession, PostgresTarget
from incident_lab.result import Table, json_scalar

__all__ = ["KIND", "PostgresKind", "PostgresSession", "PostgresTarget"]


class PostgresKind(TargetKind):
    name = "postgres"
    description = "a PostgreSQL server: a libpq URI, conninfo or service name"
    secret_advice = (
        "give the password through PGPASSWORD, ~/.pgpass, a pg_service.conf service (with its own "
        "password file), or the whole reference through an env:VARIABLE reference"
    )
    group_separator = re.compile(r",(?=\s*(?:env:|postgres(?:ql)?://|(?:service|host|hostaddr|dbname)=))")
    default_hypotheses = (
        DefaultHypothesis("postgres.lock_contention"),
        DefaultHypothesis("postgres.recent_migration"),
        DefaultHypothesis("postgres.idle_in_transaction"),
        DefaultHypothesis("postgres.long_transactions"),
        DefaultHypothesis("postgres.connection_saturation"),
        DefaultHypothesis("postgres.deadlocks", {"window_seconds": 5}),
        DefaultHypothesis("postgres.replication_lag"),
    )

    def parse(self, reference: str) -> PostgresTarget:
        return PostgresTarget.parse(reference)

    def split_secret(self, reference: str) -> tuple[str, str | None]:
        return PostgresTarget.split_secret(reference)

    def query(
        self, session: PostgresSession, statement: str, params: Mapping[str, Any] | None, max_rows: int
    ) -> Table:
        """One statement in the probes' own safe session: read-only, with their timeouts."""
        columns, rows, omitted = session.rows(statement, params, max_rows)
        values = tuple(tuple(json_scalar(value) for value in row) for row in rows)
        return Table("rows", tuple(columns), values, omitted)


KIND = PostgresKind()
