"""What the HTTP probes' results chart."""

from __future__ import annotations

from incident_lab.charts import BarChart
from incident_lab.result import Result


def latency(result: Result) -> BarChart:
    """The answers' latency: median, 95th percentile and slowest."""
    values = [result.metric(name) or 0.0 for name in ("latency_p50_ms", "latency_p95_ms", "latency_max_ms")]
    return BarChart("Request latency", ("p50", "p95", "max"), tuple(float(v) for v in values), "ms")
