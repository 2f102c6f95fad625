"""Hypothesis: the connection pool is exhausted, so clients queue for a server connection."""

from typing import Annotated

from incident_lab import Bounds, Finding, Table, confirmed, probe, refuted
from incident_lab.kinds.pgbouncer import PgBouncerSession, charts
from incident_lab.wording import plural, seconds

POOL_COLUMNS = ["database", "user", "pool_mode", "pool_size", "cl_active", "cl_waiting", "sv_active",
                "sv_idle", "sv_used", "maxwait_s"]  # fmt: skip
CLIENT_COLUMNS = ["database", "user", "application_name", "addr", "port", "connect_time", "request_time"]


@probe(
    "pgbouncer.pool_saturation",
    hypothesis="Connection pool exhausted: clients wait in PgBouncer for a server connection",
    test="Read SHOW POOLS on PgBouncer's admin console for clients waiting (cl_waiting) and the "
    "longest wait (maxwait), with each pool's size and the servers it has in use",
    target="pgbouncer",
    chart=charts.pool_saturation,
)
def pool_saturation(
    db: PgBouncerSession,
    *,
    min_wait_seconds: Annotated[
        float, "how long the oldest waiting client must have waited", Bounds(min=0)
    ] = 1.0,
) -> Finding:
    config = {row["key"]: row["value"] for row in db.show("CONFIG")}
    sizes = {row["name"]: row["pool_size"] for row in db.show("DATABASES")}
    pools = [
        # maxwait is whole seconds; maxwait_us only the microseconds beyond them.
        {
            **row,
            "maxwait_s": row["maxwait"] + row["maxwait_us"] / 1e6,
            "pool_size": sizes.get(row["database"]),
        }
        for row in db.show("POOLS")
        if row["database"] != "pgbouncer"
    ]
    saturated = [p for p in pools if p["cl_waiting"] > 0 and p["maxwait_s"] >= min_wait_seconds]
    evidence = [Table.from_records("pools", pools, POOL_COLUMNS)]
    metrics = {
        "clients_waiting": (sum(p["cl_waiting"] for p in pools), "clients"),
        "max_wait_seconds": (round(max((p["maxwait_s"] for p in pools), default=0.0), 3), "s"),
    }
    if not saturated:
        waiting = sum(p["cl_waiting"] for p in pools)
        return refuted(
            f"No client has waited {seconds(min_wait_seconds)} or more for a server connection "
            f"({plural(len(pools), 'pool')}, {plural(waiting, 'client')} waiting now, longest "
            f"{seconds(metrics['max_wait_seconds'][0])}).",
            evidence=evidence,
            metrics=metrics,
        )
    names = {(p["database"], p["user"]) for p in saturated}
    holders = [
        c for c in db.show("CLIENTS") if c["state"] == "active" and (c["database"], c["user"]) in names
    ]
    holders.sort(key=lambda c: c["request_time"])
    evidence.append(Table.from_records("active_clients", holders, CLIENT_COLUMNS))
    worst = max(saturated, key=lambda p: p["maxwait_s"])
    return confirmed(
        f"Pool {worst['database']} (user {worst['user']}, {worst['pool_mode']} mode) is exhausted: "
        f"{plural(worst['cl_waiting'], 'client')} wait for a server connection, the longest for "
        f"{seconds(worst['maxwait_s'])}, while {worst['sv_active']} of its pool_size {worst['pool_size']} "
        f"servers are in use by {plural(worst['cl_active'], 'active client')}"
        + (f"; {len(saturated) - 1} more pools have clients waiting." if len(saturated) > 1 else "."),
        evidence=evidence,
        metrics=metrics,
        hints=[
            f"Raise default_pool_size (now {config.get('default_pool_size')}) or pool {worst['database']}'s "
            "pool_size in [databases], within PostgreSQL's max_connections; or find the long holders: "
            "active_clients lists the clients holding the servers, oldest request first (in transaction "
            "mode, a client idle in a transaction keeps its server).",
        ],
    )
