"""What the LLM probes' results chart."""

from __future__ import annotations

from incident_lab.charts import BarChart
from incident_lab.result import Result


def tokens_remaining(result: Result) -> BarChart | None:
    """Tokens left against the limit, when the provider said both."""
    remaining, limit = result.metric("tokens_remaining"), result.metric("tokens_limit")
    if remaining is None or not limit:
        return None
    return BarChart(
        "LLM tokens remaining against the limit", ("remaining",), (float(remaining),), "tokens", limit
    )
