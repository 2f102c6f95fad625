"""Hypothesis: transactions are deadlocking."""

import time
from typing import Annotated

from incident_lab import Bounds, Finding, PostgresSession, Table, confirmed, inconclusive, probe, refuted
from incident_lab.wording import plural, seconds


@probe(
    "postgres.deadlocks",
    hypothesis="Transactions are deadlocking",
    test="Sample pg_stat_database.deadlocks twice, a window apart, and take the increase",
    target="postgres",
    budget_seconds=25.0,
)
def deadlocks(
    db: PostgresSession,
    *,
    window_seconds: Annotated[
        float, "how long to watch the deadlock counter", Bounds(min=0.1, below_budget=True)
    ] = 10.0,
    min_deadlocks: Annotated[int, "deadlocks within the window that confirm it", Bounds(min=1)] = 1,
    all_databases: Annotated[bool, "count every database, not only the target's"] = False,
) -> Finding:
    before = {r["datname"]: r for r in db.query("deadlock_counters", {"all_databases": all_databases})}
    started = time.monotonic()
    time.sleep(window_seconds)
    after = db.query("deadlock_counters", {"all_databases": all_databases})
    watched = time.monotonic() - started
    rows = [
        {
            "datname": r["datname"],
            "before": before[r["datname"]]["deadlocks"],
            "after": r["deadlocks"],
            "increase": r["deadlocks"] - before[r["datname"]]["deadlocks"],
            "stats_reset": r["stats_reset"],
        }
        for r in after
        if r["datname"] in before
    ]
    if any(r["increase"] < 0 for r in rows):
        return inconclusive("The deadlock counters were reset during the window.")
    new = sum(r["increase"] for r in rows)
    evidence = [
        Table.from_records(
            "deadlock_counter", rows, ["datname", "before", "after", "increase", "stats_reset"]
        )
    ]
    metrics = {
        "deadlocks_in_window": (new, "deadlocks"),
        "deadlocks_per_minute": (round(new * 60 / watched, 3), "deadlocks/min"),
        "deadlocks_total": (sum(r["after"] for r in rows), "deadlocks"),
    }
    verdict = confirmed if new >= min_deadlocks else refuted
    return verdict(
        f"{plural(new, 'deadlock')} in {seconds(watched)} of watching "
        f"({sum(r['after'] for r in rows)} since the statistics were last reset).",
        evidence=evidence,
        metrics=metrics,
    )
