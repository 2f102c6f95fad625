"""What the PgBouncer probes' results chart: clients waiting per pool."""

from __future__ import annotations

from incident_lab.charts import BarChart
from incident_lab.result import Result


def pool_saturation(result: Result) -> BarChart | None:
    """Clients waiting for a server connection per pool, with the servers each has in use."""
    pools = result.table("pools").records()
    if not pools:
        return None
    return BarChart(
        "Clients waiting for a server connection, per pool",
        tuple(f"{p['database']} ({p['user']}, {p['pool_mode']})" for p in pools),
        tuple(float(p["cl_waiting"] or 0) for p in pools),
        "clients waiting",
        notes=tuple(
            f" {p['sv_active']} of {p['pool_size']} servers in use, longest wait {p['maxwait_s'] or 0:.1f} s"
            for p in pools
        ),
    )
