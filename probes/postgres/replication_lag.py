"""Hypothesis: replicas lag behind the primary."""

from typing import Annotated

from incident_lab import Bounds, Finding, PostgresSession, Table, confirmed, inconclusive, probe
from incident_lab.wording import plural, seconds

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
    max_lag_seconds: Annotated[float, "replay lag that counts as lagging", Bounds(min=0)] = 60.0,
    max_lag_bytes: Annotated[float, "WAL not yet replayed that counts as lagging", Bounds(min=0)] = 1024.0**3,
) -> Finding:
    if db.query("replication_role")[0]["in_recovery"]:
        return _standby(db, max_lag_seconds)
    rows = db.query("standbys")
    evidence = [Table.from_records("standbys", rows, STANDBY_COLUMNS)]
    if not rows:
        return db.refuted(
            "No replication: this server is a primary with no standby connected "
            "and no inactive physical replication slot.",
            evidence=evidence,
        )
    lagging = [
        r
        for r in rows
        if r["state"] != "streaming"
        or (r["replay_lag_seconds"] or 0.0) >= max_lag_seconds
        or (r["replay_lag_bytes"] or 0.0) >= max_lag_bytes
    ]
    worst = max((r["replay_lag_seconds"] or 0.0 for r in rows), default=0.0)
    metrics = {
        "max_replay_lag_seconds": (round(worst, 3), "s"),
        "max_replay_lag_bytes": (max(r["replay_lag_bytes"] or 0.0 for r in rows), "bytes"),
        "standbys": (sum(r["kind"] == "standby" for r in rows), "standbys"),
    }
    if not lagging:
        return db.refuted(
            f"{plural(len(rows), 'standby')} streaming within {seconds(max_lag_seconds)} "
            f"(worst {seconds(worst)}).",
            evidence=evidence,
            metrics=metrics,
        )
    return confirmed(
        f"{plural(len(lagging), 'standby')} behind: " + "; ".join(map(_describe, lagging)) + ".",
        evidence=evidence,
        metrics=metrics,
    )


def _standby(db: PostgresSession, max_lag_seconds: float) -> Finding:
    delay = db.query("standby_delay")[0]
    evidence = [Table.from_records("standby", [delay], list(delay))]
    metrics = {"unreplayed_bytes": (delay["unreplayed_bytes"], "bytes")}
    since_replay = delay["since_last_replay_seconds"]
    if delay["receiver_status"] != "streaming":
        # Nothing arrives, so nothing measures the lag; time since the last replay bounds it from below.
        if since_replay is not None and since_replay >= max_lag_seconds:
            return confirmed(
                f"This standby receives no WAL (receiver {delay['receiver_status'] or 'not running'}) and "
                f"replayed its last transaction {seconds(since_replay)} ago: at least that far behind.",
                evidence=evidence,
                metrics=metrics,
            )
        return inconclusive(
            f"This standby receives no WAL (receiver {delay['receiver_status'] or 'not running'}), "
            "so its lag cannot be measured here: check the primary.",
            evidence=evidence,
            metrics=metrics,
        )
    lag = delay["replay_delay_seconds"]
    if lag is None:
        return inconclusive(
            "This standby has replayed no transaction yet, so its delay cannot be timed.",
            evidence=evidence,
            metrics=metrics,
        )
    metrics["replay_lag_seconds"] = (round(lag, 3), "s")
    verdict = confirmed if lag >= max_lag_seconds else db.refuted
    paused = " (replay is paused)" if delay["replay_paused"] else ""
    return verdict(
        f"This standby replays {seconds(lag)} behind{paused}, {delay['unreplayed_bytes']:.0f} bytes "
        "received but not replayed; WAL receiver streaming.",
        evidence=evidence,
        metrics=metrics,
    )


def _describe(row: dict) -> str:
    behind = f"{row['replay_lag_bytes'] or 0:.0f} bytes behind"
    if row["kind"] == "inactive slot":
        return f"slot {row['name']} has no standby streaming from it, {behind}"
    return f"{row['name']} {row['state']}, {seconds(row['replay_lag_seconds'])} and {behind}"
