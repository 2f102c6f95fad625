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

from incident_lab.kinds import DefaultHypothesis, TargetKind
from incident_lab.kinds.postgres.session import PostgresSession, PostgresTarget

__all__ = ["KIND", "PostgresKind", "PostgresSession", "PostgresTarget"]


class PostgresKind(TargetKind):
    name = "postgres"
    description = "a PostgreSQL server: a libpq URI, conninfo or service name"
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


KIND = PostgresKind()
