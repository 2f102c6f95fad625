"""What the PostgreSQL probes' results chart: who holds up how many sessions, how full the
connection slots are, and where active sessions spend their time."""

from __future__ import annotations

from typing import Any

from incident_lab.charts import BarChart
from incident_lab.result import Result


def lock_contention(result: Result) -> BarChart | None:
    """Sessions held up per root blocker, each with its longest wait."""
    roots = result.table("root_blockers").records()
    if not roots:
        return None
    return BarChart(
        "Sessions held up per root blocker",
        tuple(_root_label(r) for r in roots),
        tuple(float(r["blocks_in_total"] or 0) for r in roots),
        "sessions",
        notes=tuple(f" longest wait {r['longest_wait_s'] or 0:.1f} s" for r in roots),
    )


def _root_label(root: dict[str, Any]) -> str:
    who = f"pid {root['root_pid']}" if root["root_pid"] > 0 else "prepared transaction"
    doing = "migration" if root["migration"] else root["operation"]
    return f"{who} ({doing})" if doing else who


def connection_saturation(result: Result) -> BarChart | None:
    """Client connections in use against the usable slots."""
    used, usable = result.metric("client_connections"), result.metric("usable_connections")
    return BarChart(
        "Client connections against usable slots", ("in use",), (float(used or 0),), "connections", usable
    )


def wait_events(result: Result) -> BarChart | None:
    """Each wait event's share of active time, against the probe's threshold."""
    rows = result.table("wait_events").records()
    if not rows:
        return None
    return BarChart(
        "Share of active time per wait event",
        tuple(f"{r['wait_event_type']}: {r['wait_event']}" for r in rows),
        tuple(float(r["share"]) * 100 for r in rows),
        "% of active time",
        float(result.params.get("threshold_share", 0.5)) * 100,
        notes=tuple(f" {r['average_sessions']:g} sessions" for r in rows),
    )
