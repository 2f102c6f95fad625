"""Hypothesis: sessions are stuck waiting on something other than heavyweight locks."""

import time
from typing import Annotated

from incident_lab import Bounds, Finding, PostgresSession, confirmed, probe
from incident_lab.kinds.postgres import charts
from incident_lab.kinds.postgres.waits import WaitSamples
from incident_lab.wording import plural, seconds


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
    waits, costs = WaitSamples(), []
    started = time.monotonic()
    for number in range(samples):
        clock = time.monotonic()
        waits.add(db.query("wait_events", {"all_databases": all_databases}))
        costs.append(time.monotonic() - clock)
        time.sleep(max(0.0, started + window_seconds * (number + 1) / samples - time.monotonic()))
    seen = f"{plural(samples, 'sample')} over {seconds(time.monotonic() - started)}"
    kind, share = waits.stuck() if waits.active else ("none", 0.0)
    metrics = {
        "active_sessions": (round(waits.active / samples, 2), "sessions"),
        "top_wait_share": (round(share, 4), "ratio"),
        "sample_ms": (round(sorted(costs)[len(costs) // 2] * 1000, 2), "ms"),  # what one sample costs
    }
    evidence = [waits.events_table()]
    if not waits.active:
        return db.refuted(
            f"No session was running a statement in {seen}.", evidence=evidence, metrics=metrics
        )
    if share >= threshold_share:
        return confirmed(
            f"{waits.describe(kind)}, in {seen}; {waits.mix()}.", evidence=evidence, metrics=metrics
        )
    lock_note = (
        "; heavyweight lock waits are postgres.lock_contention's to explain" if "Lock" in waits.mix() else ""
    )
    return db.refuted(
        f"No wait class other than CPU and heavyweight locks takes {threshold_share:.0%} of active time "
        f"in {seen} ({waits.mix()}){lock_note}.",
        evidence=evidence,
        metrics=metrics,
    )
