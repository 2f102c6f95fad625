"""matplotlib charts as PNG bytes: the verdict overview, each result's own chart (what its
probe or its kind says to draw, see `incident_lab.charts`: bars, or series over time
like a dashboard panel), and metrics over time across runs and rounds.

Figures are drawn without pyplot (no global state, no GUI backend), so the same code
serves the notebook, the panel, the archive and the watch command.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from incident_lab.charts import BarChart, Chart, TimeSeriesChart
from incident_lab.registry import Registry
from incident_lab.result import Result, parse_time

Picture = tuple[str, bytes]  # file stem, PNG
MARKER_COLOUR = "#6a1b9a"  # the incident's start: a colour no series line takes


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
    return _time_series(chart) if isinstance(chart, TimeSeriesChart) else _bars(chart)


def _bars(chart: BarChart) -> Figure:
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


def _utc(seconds: Sequence[float]) -> list[dt.datetime]:
    return [dt.datetime.fromtimestamp(at, dt.UTC) for at in seconds]


def _drawable(values: Sequence[float | None]) -> list[float]:
    """None (no sample) and ±Inf (off any scale) leave a gap in the line."""
    return [value if value is not None and math.isfinite(value) else math.nan for value in values]


def _time_series(chart: TimeSeriesChart) -> Figure:
    """A dashboard panel: the named series, the rest as a band with its median, the breaches
    shaded, the threshold dashed and the incident's start as a vertical line, on a UTC axis."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import PercentFormatter

    figure = Figure(figsize=(9, 3.8))
    axes = figure.subplots()
    if chart.rest is not None:
        times = _utc(chart.rest.times)
        low, high = _drawable(chart.rest.low), _drawable(chart.rest.high)
        axes.fill_between(
            times, low, high, color="#9e9e9e", alpha=0.3, linewidth=0, label=f"{chart.rest.label}: range"
        )
        axes.plot(
            times,
            _drawable(chart.rest.middle),
            color="#616161",
            linewidth=0.8,
            linestyle=":",
            label=f"{chart.rest.label}: median",
        )
    for line in chart.lines:
        label = line.label if len(line.label) <= 60 else line.label[:59] + "…"
        axes.plot(_utc(line.times), _drawable(line.values), linewidth=1.3, label=label)
    for number, (start, end) in enumerate(chart.shaded):
        start_at, end_at = _utc([start, end])
        axes.axvspan(
            start_at,
            end_at,
            color="#c62828",
            alpha=0.12,
            linewidth=0,
            label="breach" if number == 0 else None,
        )
    if chart.threshold is not None:
        axes.axhline(
            chart.threshold,
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"threshold: {chart.threshold_label}",
        )
    if chart.marker is not None:
        (marker,) = _utc([chart.marker])
        axes.axvline(
            marker, color=MARKER_COLOUR, linewidth=2, label=f"{chart.marker_label} {marker:%H:%M:%S} UTC"
        )
    locator = AutoDateLocator(tz=dt.UTC)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=dt.UTC))
    axes.set_xlabel("time (UTC)")
    if chart.percent:
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_ylabel(chart.unit or ("share" if chart.percent else "value"))
    axes.set_title(chart.title, fontsize=9)
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    axes.grid(alpha=0.3)
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
    figure = metrics_figure(points)
    return ("metrics-over-time", png(figure)) if figure is not None else None


def metrics_figure(points: Sequence[dict[str, Any]]) -> Figure | None:
    """Small multiples, one per metric observed at two or more times, on one shared UTC
    time axis that each of them labels, so that a spike in one lines up with the others."""
    from matplotlib.dates import DateFormatter

    # Grouped by hand, not with pandas: importing it took as long as drawing every other
    # section of a first run, which has one time per metric and draws nothing here.
    observed: dict[str, list[tuple[dt.datetime, float, str]]] = {}
    for point in points:
        value = math.nan if point["value"] is None else float(point["value"])
        observed.setdefault(f"{point['probe']} · {point['metric']}", []).append(
            (parse_time(point["at"]), value, str(point["unit"]))
        )
    series = sorted(name for name, seen in observed.items() if len({at for at, _, _ in seen}) >= 2)
    if not series:
        return None
    figure = Figure(figsize=(9, 0.8 + 1.9 * len(series)), layout="constrained")
    axes_list = figure.subplots(len(series), 1, squeeze=False, sharex=True)[:, 0]
    for axes, name in zip(axes_list, series, strict=True):
        data = sorted(observed[name], key=lambda seen: seen[0])
        axes.plot([at for at, _, _ in data], [value for _, value, _ in data], marker="o")
        axes.set_title(name, fontsize=9)
        axes.set_ylabel(data[0][2])
        axes.tick_params(axis="x", labelbottom=True, labelsize=8)
        axes.xaxis.set_major_formatter(DateFormatter("%H:%M:%S", tz=dt.UTC))
    axes_list[-1].set_xlabel("time (UTC)")
    figure.suptitle("Metrics over time (UTC)")
    return figure
