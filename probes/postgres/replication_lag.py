"""Hypothesis: replicas lag behind the primary."""

from typing import Annotated

from incident_lab import Finding, PostgresSession, Table, confirmed, probe, refuted
from incident_lab.describe import plural, seconds

STANDBY_COLUMNS = ["kind", "name", "address", "state", "sync_state", "replay_lag_seconds", "replay_lag_bytes"]


@probe(
    "postgres.replication_lag",
    hypothesis="Replication lag: standbys are behind the primary",
    test="On a primary, read pg_stat_replication and inactive physical slots; on a standby, "
    "compare received and replayed WAL and the last replay time",
    target="postgres",
)
def replication_lag(
    db: PostgresSession,
    *,
    max_lag_seconds: Annotated[float, "replay lag that counts as lagging"] = 60.0,
) -> Finding:
    if db.query("replication_role")[0]["in_recovery"]:
        delay = db.query("standby_delay")[0]
        lag = delay["replay_delay_seconds"] or 0.0
        verdict = confirmed if lag >= max_lag_seconds else refuted
        paused = " (replay is paused)" if delay["replay_paused"] else ""
        return verdict(
            f"This standby replays {seconds(lag)} behind{paused}, {delay['unreplayed_bytes']:.0f} bytes "
            f"received but not replayed; WAL receiver {delay['receiver_status'] or 'not running'}.",
            evidence=[Table.from_records("standby", [delay], list(delay))],
            metrics={
                "replay_lag_seconds": (round(lag, 3), "s"),
                "unreplayed_bytes": (delay["unreplayed_bytes"], "bytes"),
            },
        )
    rows = db.query("standbys")
    evidence = [Table.from_records("standbys", rows, STANDBY_COLUMNS)]
    if not rows:
        return refuted(
            "No replication: this server is a primary with no standby connected "
            "and no inactive physical replication slot.",
            evidence=evidence,
        )
    lagging = [
        r for r in rows if r["kind"] == "inactive slot" or (r["replay_lag_seconds"] or 0.0) >= max_lag_seconds
    ]
    worst = max((r["replay_lag_seconds"] or 0.0 for r in rows), default=0.0)
    metrics = {
        "max_replay_lag_seconds": (round(worst, 3), "s"),
        "max_replay_lag_bytes": (max(r["replay_lag_bytes"] or 0.0 for r in rows), "bytes"),
        "standbys": (sum(r["kind"] == "standby" for r in rows), "standbys"),
    }
    if not lagging:
        return refuted(
            f"{plural(len(rows), 'standby')} replaying within {seconds(max_lag_seconds)} "
            f"(worst {seconds(worst)}).",
            evidence=evidence,
            metrics=metrics,
        )
    return confirmed(
        f"{plural(len(lagging), 'standby')} behind: " + "; ".join(map(_describe, lagging)) + ".",
        evidence=evidence,
        metrics=metrics,
    )


def _describe(row: dict) -> str:
    if row["kind"] == "inactive slot":
        return (
            f"slot {row['name']} has no standby streaming from it, {row['replay_lag_bytes']:.0f} bytes behind"
        )
    lag = seconds(row["replay_lag_seconds"])
    return f"{row['name']} {row['state']}, {lag} and {row['replay_lag_bytes']:.0f} bytes behind"
