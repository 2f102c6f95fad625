"""What a chart shows, as plain data: a probe or a kind says what to draw, the rendering
layer draws it. Keeping the drawing out lets probes and kinds stay free of matplotlib,
and lets their chart logic be tested without drawing anything."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one per label, with an optional limit line and a note per bar."""

    title: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    unit: str
    limit: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Line:
    """One series over time: `values[i]` was seen at `times[i]` (Unix seconds, UTC); None
    where it had no sample."""

    label: str
    times: tuple[float, ...]
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Band:
    """Many series summarised at each time: the lowest, the median and the highest value."""

    label: str
    times: tuple[float, ...]
    low: tuple[float | None, ...]
    middle: tuple[float | None, ...]
    high: tuple[float | None, ...]


@dataclass(frozen=True)
class TimeSeriesChart:
    """Series over a window of time, as people read a dashboard panel: the lines worth
    naming, the rest as a band, the threshold, a marked moment (when the incident
    started) and the spans to shade (when the threshold was breached). `percent`: the
    values are ratios, shown as percentages."""

    title: str
    lines: tuple[Line, ...]
    unit: str = ""
    rest: Band | None = None
    threshold: float | None = None
    threshold_label: str = ""
    marker: float | None = None
    marker_label: str = ""
    shaded: tuple[tuple[float, float], ...] = ()
    percent: bool = False


Chart = BarChart | TimeSeriesChart
