"""matplotlib charts as PNG bytes: a verdict overview, one chart per hypothesis where
its probe has something to draw, and metrics over time across runs and rounds.

Figures are drawn without pyplot (no global state, no GUI backend), so the same code
serves the notebook, the archive and the watch command.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from matplotlib.figure import Figure

from incident_lab.html import BADGE_COLOURS
from incident_lab.result import Result

Chart = tuple[str, bytes]  # file stem, PNG


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def verdict_overview(results: Sequence[Result]) -> Chart:
    figure = Figure(figsize=(8, 0.5 + 0.45 * len(results)))
    axes = figure.subplots()
    labels = [r.hypothesis if len(r.hypothesis) < 60 else r.hypothesis[:57] + "…" for r in results]
    axes.barh(range(len(results)), [1] * len(results), color=[BADGE_COLOURS[r.verdict] for r in results])
    for row, result in enumerate(results):
        axes.text(0.02, row, result.label, va="center", color="white", fontweight="bold")
    axes.set_yticks(range(len(results)), labels)
    axes.invert_yaxis()
    axes.set_xticks([])
    axes.set_title("Hypotheses: True (red) confirmed, False (green) refuted, grey inconclusive")
    return "verdicts", png(figure)


def _bars(
    title: str, labels: list[str], values: list[float], unit: str, limit: float | None = None
) -> Figure:
    figure = Figure(figsize=(7, 0.8 + 0.4 * max(len(labels), 1)))
    axes = figure.subplots()
    axes.barh(labels, values, color="#c62828")
    if limit is not None:
        axes.axvline(limit, color="black", linestyle="--", label=f"limit {limit:g}")
        axes.legend(loc="lower right")
    axes.invert_yaxis()
    axes.set_xlabel(unit)
    axes.set_title(title)
    return figure


def _lock_contention(result: Result) -> Figure | None:
    roots = result.table("root_blockers").records()
    if not roots:
        return None
    labels = [f"pid {r['root_pid']}" + (" (migration)" if r["migration"] else "") for r in roots]
    figure = _bars(
        "Sessions held up per root blocker", labels, [r["blocks_in_total"] for r in roots], "sessions"
    )
    for row, root in enumerate(roots):
        figure.axes[0].annotate(
            f" longest wait {root['longest_wait_s'] or 0:.1f} s", (root["blocks_in_total"], row), va="center"
        )
    return figure


def _connection_saturation(result: Result) -> Figure | None:
    try:
        used, usable = result.metric("client_connections"), result.metric("usable_connections")
    except KeyError:
        return None
    return _bars("Client connections against usable slots", ["in use"], [used or 0], "connections", usable)


def _token_quota(result: Result) -> Figure | None:
    try:
        remaining, limit = result.metric("tokens_remaining"), result.metric("tokens_limit")
    except KeyError:
        return None
    if remaining is None or not limit:
        return None
    return _bars("LLM tokens remaining against the limit", ["remaining"], [remaining], "tokens", limit)


def _error_rate(result: Result) -> Figure | None:
    names = ["latency_p50_ms", "latency_p95_ms", "latency_max_ms"]
    try:
        values = [result.metric(name) or 0.0 for name in names]
    except KeyError:
        return None
    return _bars("Request latency", ["p50", "p95", "max"], values, "ms")


HYPOTHESIS_CHARTS: dict[str, Callable[[Result], Figure | None]] = {
    "postgres.lock_contention": _lock_contention,
    "postgres.connection_saturation": _connection_saturation,
    "llm.token_quota": _token_quota,
    "http.error_rate": _error_rate,
}


def hypothesis_chart(result: Result, stem: str) -> Chart | None:
    """The probe's own chart, when its id has one and its result has data for it."""
    draw = HYPOTHESIS_CHARTS.get(result.probe)
    if draw is None or not result.metrics:
        return None
    try:
        figure = draw(result)
    except KeyError:  # a result without the evidence the chart needs has nothing to draw
        return None
    return (stem, png(figure)) if figure is not None else None


def metrics_over_time(points: Sequence[dict[str, Any]]) -> Chart | None:
    """Small multiples, one per metric that was observed at two or more times."""
    import pandas as pd

    if not points:
        return None
    frame = pd.DataFrame(points)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["series"] = frame["probe"] + " · " + frame["metric"]
    counts = frame.groupby("series")["at"].nunique()
    series = [name for name in counts.index if counts[name] >= 2]
    if not series:
        return None
    figure = Figure(figsize=(9, 2.2 * len(series)))
    axes_list = figure.subplots(len(series), 1, squeeze=False)[:, 0]
    for axes, name in zip(axes_list, series, strict=True):
        data = frame[frame["series"] == name].sort_values("at")
        axes.plot(data["at"], data["value"].astype(float), marker="o")
        axes.set_title(name, fontsize=9)
        axes.set_ylabel(str(data["unit"].iloc[0]))
    figure.autofmt_xdate()
    figure.suptitle("Metrics over time (UTC)")
    return "metrics-over-time", png(figure)
