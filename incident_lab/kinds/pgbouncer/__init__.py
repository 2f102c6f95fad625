"""The `pgbouncer` kind: a PgBouncer connection pooler, probed through its admin console.

Its references are libpq URIs or conninfo naming the console (database `pgbouncer`, which
is the default) as a user listed in PgBouncer's `stats_users` or `admin_users`; its
session (`session.PgBouncerSession`) sends only the console's read-only SHOW commands.
`charts` draws its probes' results. With no hypotheses chosen, a PgBouncer target gets
the pool-saturation probe.
"""

from __future__ import annotations

from incident_lab.kinds import DefaultHypothesis, TargetKind
from incident_lab.kinds.pgbouncer.session import PgBouncerSession, PgBouncerTarget

__all__ = ["KIND", "PgBouncerKind", "PgBouncerSession", "PgBouncerTarget"]


class PgBouncerKind(TargetKind):
    name = "pgbouncer"
    description = "a PgBouncer's admin console: postgresql://stats_user@host:6432/pgbouncer"
    default_hypotheses = (DefaultHypothesis("pgbouncer.pool_saturation"),)

    def parse(self, reference: str) -> PgBouncerTarget:
        return PgBouncerTarget.parse(reference)

    def split_secret(self, reference: str) -> tuple[str, str | None]:
        return PgBouncerTarget.split_secret(reference)


KIND = PgBouncerKind()
