"""matplotlib charts as PNG bytes: the verdict overview, each result's own chart (what its
probe or its kind says to draw, see `incident_lab.charts`), and metrics over time
across runs and rounds.

Figures are drawn without pyplot (no global state, no GUI backend), so the same code
serves the notebook, the panel, the archive and the watch command.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from incident_lab.charts import Chart
from incident_lab.registry import Registry
from incident_lab.result import Result

Picture = tuple[str, bytes]  # file stem, PNG


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def verdict_overview(results: Sequence[Result]) -> Picture:
    figure = Figure(figsize=(8, 0.5 + 0.45 * len(results)))
    axes = figure.subplots()
    labels = [r.hypothesis if len(r.hypothesis) < 60 else r.hypothesis[:57] + "…" for r in results]
    axes.barh(range(len(results)), [1] * len(results), color=[r.verdict.colour for r in results])
    for row, result in enumerate(results):
        axes.text(0.02, row, result.label, va="center", color="white", fontweight="bold")
    axes.set_yticks(range(len(results)), labels)
    axes.invert_yaxis()
    axes.set_xticks([])
    axes.set_title("Hypotheses: True (red) confirmed, False (green) refuted, grey inconclusive")
    return "verdicts", png(figure)


def draw(chart: Chart) -> Figure:
    figure = Figure(figsize=(7, 0.8 + 0.4 * max(len(chart.labels), 1)))
    axes = figure.subplots()
    axes.barh(list(chart.labels), list(chart.values), color="#c62828")
    if chart.limit is not None:
        axes.axvline(chart.limit, color="black", linestyle="--", label=f"limit {chart.limit:g}")
        axes.legend(loc="lower right")
    for row, (value, note) in enumerate(zip(chart.values, chart.notes, strict=False)):
        axes.annotate(note, (value, row), va="center")
    axes.invert_yaxis()
    axes.set_xlabel(chart.unit)
    axes.set_title(chart.title)
    return figure


def chart_for(result: Result, registry: Registry) -> Chart | None:
    """What the result's probe says to draw, else what its kind does; None when neither
    has anything (a result without the evidence a chart needs has nothing to draw)."""
    probe = registry.get(result.probe) if result.probe in registry else None
    draws = [probe.chart] if probe is not None and probe.chart is not None else []
    if result.kind in registry.kind_names:
        draws.append(registry.kind(result.kind).chart)
    for chart in draws:
        try:
            spec = chart(result)
        except KeyError:  # a table or metric the chart reads is missing: an inconclusive result
            continue
        if spec is not None:
            return spec
    return None


def result_picture(result: Result, registry: Registry, stem: str) -> Picture | None:
    spec = chart_for(result, registry)
    return (stem, png(draw(spec))) if spec is not None else None


def metrics_over_time(points: Sequence[dict[str, Any]]) -> Picture | None:
    """Small multiples, one per metric observed at two or more times, on one shared UTC
    time axis that each of them labels, so that a spike in one lines up with the others."""
    import datetime as dt

    import pandas as pd
    from matplotlib.dates import DateFormatter

    if not points:
        return None
    frame = pd.DataFrame(points)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["series"] = frame["probe"] + " · " + frame["metric"]
    counts = frame.groupby("series")["at"].nunique()
    series = [name for name in counts.index if counts[name] >= 2]
    if not series:
        return None
    figure = Figure(figsize=(9, 0.8 + 1.9 * len(series)), layout="constrained")
    axes_list = figure.subplots(len(series), 1, squeeze=False, sharex=True)[:, 0]
    for axes, name in zip(axes_list, series, strict=True):
        data = frame[frame["series"] == name].sort_values("at")
        axes.plot(data["at"], data["value"].astype(float), marker="o")
        axes.set_title(name, fontsize=9)
        axes.set_ylabel(str(data["unit"].iloc[0]))
        axes.tick_params(axis="x", labelbottom=True, labelsize=8)
        axes.xaxis.set_major_formatter(DateFormatter("%H:%M:%S", tz=dt.UTC))
    axes_list[-1].set_xlabel("time (UTC)")
    figure.suptitle("Metrics over time (UTC)")
    return "metrics-over-time", png(figure)
