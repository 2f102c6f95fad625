"""Hypothesis: sessions are waiting on heavyweight locks, for example behind a migration."""

from typing import Annotated

from incident_lab import Bounds, Finding, PostgresSession, confirmed, probe
from incident_lab.kinds.postgres import charts
from incident_lab.kinds.postgres.blocking import (
    build_forest,
    describe_elsewhere,
    describe_queued,
    describe_root,
    remedies,
    roots_table,
    tree_table,
)
from incident_lab.wording import plural, seconds


@probe(
    "postgres.lock_contention",
    hypothesis="Database lock contention: sessions wait on heavyweight locks (e.g. behind a migration)",
    test="Check pg_stat_activity for sessions waiting on locks and build the blocking tree",
    target="postgres",
    chart=charts.lock_contention,
)
def lock_contention(
    db: PostgresSession,
    *,
    min_wait_seconds: Annotated[float, "count only waits at least this long", Bounds(min=0)] = 0.0,
    all_databases: Annotated[bool, "look at every database, not only the target's"] = False,
) -> Finding:
    forest = build_forest(db.query("lock_tree", {"all_databases": all_databases}))
    waits = [s for s in forest.waiters if (s.wait_seconds or 0.0) >= min_wait_seconds]
    longest = max((s.wait_seconds or 0.0 for s in forest.waiters), default=0.0)
    metrics = {
        "waiting_sessions": (len(waits), "sessions"),
        "root_blockers": (len(forest.roots), "sessions"),
        "max_wait_seconds": (round(longest, 3), "s"),
        "max_chain_depth": (forest.max_depth, "levels"),
        "waiting_elsewhere": (sum(forest.elsewhere.values()), "sessions"),
    }
    evidence = [tree_table(forest), roots_table(forest)]
    if not waits:
        return db.refuted(
            f"No session waits on a heavyweight lock for {min_wait_seconds:g} s or more "
            f"({len(forest.waiters)} waiting in all){describe_elsewhere(forest)}.",
            evidence=evidence,
            metrics=metrics,
        )
    findings = [describe_root(forest, forest.sessions[pid]) for pid in forest.roots]
    findings += [describe_queued(forest, m) for m in forest.queued_migrations()]
    return confirmed(
        f"{plural(len(waits), 'session')} wait{'s' if len(waits) == 1 else ''} on locks (longest "
        f"{seconds(longest)}, chains {forest.max_depth} deep) behind "
        f"{plural(len(forest.roots), 'root blocker')}: " + "; ".join(findings) + describe_elsewhere(forest),
        evidence=evidence,
        metrics=metrics,
        hints=remedies(forest),
    )
