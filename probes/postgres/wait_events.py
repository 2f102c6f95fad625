"""Hypothesis: sessions are stuck waiting on something other than heavyweight locks."""

import time
from collections import Counter
from typing import Annotated

from incident_lab import Bounds, Finding, PostgresSession, Table, confirmed, probe
from incident_lab.kinds.postgres import charts
from incident_lab.wording import plural, seconds

NOT_STUCK = ("CPU", "Lock")  # on CPU is working; heavyweight locks are postgres.lock_contention's


@probe(
    "postgres.wait_events",
    hypothesis="Sessions are stuck waiting on something other than locks (I/O, LWLocks, buffer pins, "
    "the client, …)",
    test="Sample the wait events of active sessions in pg_stat_activity several times over a window "
    "(the statement below, once per sample) and take each wait's share of active time",
    target="postgres",
    chart=charts.wait_events,
)
def wait_events(
    db: PostgresSession,
    *,
    window_seconds: Annotated[float, "how long to sample", Bounds(min=0.1, below_budget=True)] = 2.0,
    samples: Annotated[int, "samples taken over the window", Bounds(min=2, max=200)] = 20,
    threshold_share: Annotated[
        float, "share of active time one wait class must take to confirm", Bounds(min=0.05, max=1)
    ] = 0.5,
    all_databases: Annotated[bool, "sample every database, not only the target's"] = False,
) -> Finding:
    events: Counter[tuple[str, str]] = Counter()
    queries: Counter[tuple[str, str, str]] = Counter()
    costs = []
    started = time.monotonic()
    for number in range(samples):
        clock = time.monotonic()
        for row in db.query("wait_events", {"all_databases": all_databases}):
            events[row["wait_event_type"], row["wait_event"]] += row["sessions"]
            queries[row["wait_event_type"], row["wait_event"], row["query"]] += row["sessions"]
        costs.append(time.monotonic() - clock)
        time.sleep(max(0.0, started + window_seconds * (number + 1) / samples - time.monotonic()))
    active = sum(events.values())
    classes: Counter[str] = Counter()
    for (kind, _), count in events.items():
        classes[kind] += count
    rows = [
        {
            "wait_event_type": kind,
            "wait_event": event,
            "share": round(count / active, 4),
            "average_sessions": round(count / samples, 2),
            "top_query": max((q for q in queries if q[:2] == (kind, event)), key=queries.get)[2],
        }
        for (kind, event), count in events.most_common(20)
    ]
    stuck = [(kind, count / active) for kind, count in classes.most_common() if kind not in NOT_STUCK]
    kind, share = stuck[0] if stuck else ("none", 0.0)
    metrics = {
        "active_sessions": (round(active / samples, 2), "sessions"),
        "top_wait_share": (round(share, 4), "ratio"),
        "sample_ms": (round(sorted(costs)[len(costs) // 2] * 1000, 2), "ms"),
    }
    evidence = [Table.from_records("wait_events", rows, list(rows[0]) if rows else ["wait_event_type"])]
    seen = f"{plural(samples, 'sample')} over {seconds(time.monotonic() - started)}"
    if not active:
        return db.refuted(
            f"No session was running a statement in {seen}.", evidence=evidence, metrics=metrics
        )
    top = next(r for r in rows if r["wait_event_type"] == kind) if stuck else rows[0]
    spent = (
        f"{kind} waits take {share:.0%} of active time (mostly {top['wait_event']}, "
        f"{top['average_sessions']:g} session{'' if top['average_sessions'] == 1 else 's'} on average, "
        f"e.g. {top['top_query']!r})"
    )
    mix = ", ".join(f"{k} {n / active:.0%}" for k, n in classes.most_common(4))
    if share >= threshold_share:
        return confirmed(
            f"{spent}, in {seen}; active time by class: {mix}.", evidence=evidence, metrics=metrics
        )
    return db.refuted(
        f"No wait class other than CPU and heavyweight locks takes {threshold_share:.0%} of active time "
        f"in {seen} (active time by class: {mix})"
        + ("; heavyweight lock waits are postgres.lock_contention's to explain." if classes["Lock"] else "."),
        evidence=evidence,
        metrics=metrics,
    )
