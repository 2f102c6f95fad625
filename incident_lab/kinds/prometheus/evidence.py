"""A window of series read against a condition, turned into what a result carries: the
evidence tables (the window and the exact test, the worst series, their breaches, the
series to chart) and the words for values.

The chart's data travels in the result itself (`chart_series`: one row per line, its
values on the window's grid as text), so that the kind can draw any archived result
again, and a report of 1,000 series stays small: the worst few are lines, the rest
one band (lowest, median, highest at each instant).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from incident_lab.kinds.prometheus.series import Reading, Series, grid, rank, read, summarise
from incident_lab.kinds.prometheus.window import Window, clock, iso
from incident_lab.result import JsonScalar, Table
from incident_lab.wording import seconds as say_seconds

SHOWN_LINES = 5  # series drawn as lines; the rest are summarised as one band
LISTED_SERIES = 20
LISTED_BREACHES = 100
BAND_ROWS = ("low", "median", "high")


@dataclass(frozen=True)
class Threshold:
    """Breached above (`worse` 1) or below (`worse` -1) a limit, or at it when `inclusive`
    (an alert's `>=`)."""

    limit: float
    worse: int
    unit: str = ""
    inclusive: bool = False

    def holds(self, value: float) -> bool:
        if self.inclusive:
            return value >= self.limit if self.worse > 0 else value <= self.limit
        return value > self.limit if self.worse > 0 else value < self.limit

    def __str__(self) -> str:
        side = "above" if self.worse > 0 else "below"
        return f"{'at or ' if self.inclusive else ''}{side} {say(self.limit, self.unit)}"


@dataclass(frozen=True)
class WindowReading:
    """Every series of one range query read against one condition, worst first."""

    window: Window
    readings: list[Reading]
    worse: int  # 1: higher values are worse; -1: lower ones
    unit: str = ""

    @classmethod
    def of(
        cls,
        series: Sequence[Series],
        holds: Callable[[float], bool],
        window: Window,
        worse: int = 1,
        unit: str = "",
    ) -> WindowReading:
        readings = [read(one, holds, window.step, worse) for one in series]
        return cls(window, rank(readings, worse), worse, unit)

    @property
    def worst(self) -> Reading:
        return self.readings[0]

    def held(self, for_seconds: float) -> list[Reading]:
        return [r for r in self.readings if r.held_for(for_seconds)]

    def stopped(self, staleness_seconds: float) -> list[Reading]:
        """Series whose newest number is older than the staleness bound (one step of slack:
        the last instant evaluated may fall up to a step before now)."""
        bound = self.window.end - staleness_seconds - self.window.step
        return [r for r in self.readings if r.newest_at is None or r.newest_at < bound]

    def nothing(self) -> str:
        """Why an empty answer decides nothing."""
        return (
            f"The query returned no series {self.span()}: no data is not the absence of a breach "
            "(check the metric's name and labels)."
        )

    def doubt(self, staleness_seconds: float) -> str | None:
        """Why the series cannot rule a breach out (some stopped reporting, or have gaps), if so."""
        count = f"{len(self.readings)} series"
        stopped = self.stopped(staleness_seconds)
        if stopped:
            newest = stopped[0].newest_at
            since = f"no sample since {clock(newest)}" if newest is not None else "no number at all"
            return (
                f"Stale data: {len(stopped)} of {count} stopped reporting "
                f"({stopped[0].series.spoken}: {since}), so a breach since cannot be ruled out."
            )
        gapped = [r for r in self.readings if r.gaps]
        if gapped:
            start, end = gapped[0].gaps[0]
            return (
                f"Gaps in {len(gapped)} of {count} ({gapped[0].series.spoken}: no number, NaN or no sample, "
                f"from {clock(start)} to {clock(end)}), so a breach in them cannot be ruled out."
            )
        return None

    def lasting(self, for_seconds: float) -> str:
        """` for 60 s`, or nothing when any breach counts."""
        return f" for {say_seconds(for_seconds)}" if for_seconds else ""

    def span(self) -> str:
        return f"from {clock(self.window.start)} to {clock(self.window.end)}"

    def peak_words(self, reading: Reading) -> str:
        if reading.peak_at is None:
            return "no number"
        return f"{say(reading.peak, self.unit)} at {clock(reading.peak_at)}"

    def metrics(self) -> dict[str, tuple[float | int | None, str]]:
        """The peak furthest the worse way (None for ±Inf, which JSON cannot hold), the
        longest breach and the series count."""
        peaks = [r.peak for r in self.readings if r.peak is not None]
        peak = max(peaks, key=lambda value: value * self.worse, default=None)
        longest = self.worst.longest()
        return {
            "peak": (peak if peak is not None and not math.isinf(peak) else None, self.unit),
            "breach_seconds": (longest.seconds if longest else 0.0, "s"),
            "series": (len(self.readings), "series"),
        }


def number(value: float | None) -> JsonScalar:
    """A value for the evidence: JSON has no infinity, so ±Inf is written as Prometheus writes it."""
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def say(value: float | None, unit: str = "") -> str:
    """A value as a person reads it: `50%` for a ratio, `2.5 s`, `+Inf`."""
    if value is None or math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    return f"{value:.4g}" + (f" {unit}" if unit else "")


def held_words(reading: Reading, unit: str = "") -> str:
    """The longest run, as the summary says it: `for 10 min from 21:52:05 UTC, peaking at 50%`."""
    longest = reading.longest()
    if longest is None:
        return "never"
    when = (
        f"at one instant, {clock(longest.start)}"
        if longest.steps == 1
        else f"for {say_seconds(longest.seconds)} from {clock(longest.start)}"
    )
    return f"{when}, peaking at {say(longest.peak, unit)} at {clock(longest.peak_at)}"


def tables(
    reading: WindowReading, *, query: str, condition: str, threshold: float | None, for_seconds: float
) -> list[Table]:
    window = reading.window
    listed = reading.readings[:LISTED_SERIES]
    return [
        Table(
            "window",
            (
                "query",
                "condition",
                "start",
                "end",
                "step_seconds",
                "started_at",
                "for_seconds",
                "threshold",
                "worse",
            ),
            (
                (
                    query,
                    condition,
                    iso(window.start),
                    iso(window.end),
                    window.step,
                    iso(window.started_at),
                    for_seconds,
                    number(threshold),
                    reading.worse,
                ),
            ),
        ),
        Table(
            "series",
            (
                "series",
                "held_seconds",
                "held_from",
                "held_until",
                "peak",
                "peak_at",
                "newest_at",
                "last_value",
                "nan_samples",
                "gaps",
            ),
            tuple(_series_row(r) for r in listed),
            max(0, len(reading.readings) - len(listed)),
        ),
        breach_table(reading),
        chart_table(reading),
    ]


def breach_table(reading: WindowReading) -> Table:
    """Each run of the condition, worst series first, up to `LISTED_BREACHES`."""
    rows: list[tuple[JsonScalar, ...]] = []
    for listed in reading.readings:
        for run in listed.runs[: LISTED_BREACHES - len(rows)]:
            rows.append(
                (listed.series.name, iso(run.start), iso(run.end), run.seconds, run.steps, number(run.peak))
            )
    omitted = sum(len(r.runs) for r in reading.readings) - len(rows)
    return Table("breaches", ("series", "start", "end", "seconds", "steps", "peak"), tuple(rows), omitted)


def _series_row(reading: Reading) -> tuple[JsonScalar, ...]:
    longest = reading.longest()
    return (
        reading.series.name,
        longest.seconds if longest else None,
        iso(longest.start) if longest else None,
        iso(longest.end) if longest else None,
        number(reading.peak),
        iso(reading.peak_at) if reading.peak_at is not None else None,
        iso(reading.newest_at) if reading.newest_at is not None else None,
        number(reading.last_value),
        reading.nan_samples,
        "; ".join(f"{iso(start)} to {iso(end)}" for start, end in reading.gaps) or None,
    )


def chart_table(reading: WindowReading) -> Table:
    """The worst series as lines and the rest as a band, on the window's grid."""
    window = reading.window
    by_peak = sorted(
        reading.readings,
        key=lambda r: (r.longest() is None, -(r.peak * reading.worse) if r.peak is not None else math.inf),
    )
    shown, rest = by_peak[:SHOWN_LINES], by_peak[SHOWN_LINES:]
    rows = [
        (r.series.name, "line", _encode(grid(r.series, window.start, window.step, window.steps)))
        for r in shown
    ]
    if rest:
        columns = [grid(r.series, window.start, window.step, window.steps) for r in rest]
        label = f"{len(rest)} other series"
        rows += [
            (label, name, _encode(values)) for name, values in zip(BAND_ROWS, summarise(columns), strict=True)
        ]
    return Table("chart_series", ("series", "shown_as", "values"), tuple(rows))


def _encode(values: Sequence[float | None]) -> str:
    return " ".join("nan" if value is None else f"{value:.6g}" for value in values)


def decode(text: str) -> tuple[float | None, ...]:
    return tuple(None if math.isnan(value) else value for value in map(float, text.split()))
