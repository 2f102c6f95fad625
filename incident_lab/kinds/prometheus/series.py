"""Series from a Prometheus range query, and what each says about a condition: when it
held (runs of consecutive steps), how far it went (the peak), whether the series kept
reporting (its newest sample, its gaps) and how many samples were not numbers.

Values arrive as text and may be `NaN`, `+Inf` or `-Inf`. NaN is never a breach nor a
reading (a ratio of 0/0 says nothing); ±Inf is a reading like any other (a quantile
beyond the last histogram bucket is a real breach).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from operator import is_not, itemgetter
from typing import Any

# Two instants at most this many steps apart are consecutive: Prometheus's timestamps
# are exact multiples of the step from the start, so only rounding needs the slack.
CONSECUTIVE = 1.5
IS_NUMBER = partial(is_not, None)  # a C-level filter: windows hold about a million values


@dataclass(frozen=True)
class Series:
    labels: Mapping[str, str]
    times: tuple[float, ...]
    values: tuple[float, ...]

    @property
    def name(self) -> str:
        """As PromQL writes a series: `http_requests_total{code="500",service="checkout"}`, or
        `{}` for an aggregate without labels."""
        labels = dict(self.labels)
        metric = labels.pop("__name__", "")
        inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        return f"{metric}{{{inner}}}" if inner or not metric else metric

    @property
    def spoken(self) -> str:
        """The name as a sentence can say it: a bare `{}` reads as a typo there."""
        return "the query's one series (no labels)" if self.name == "{}" else self.name


def parse_matrix(data: Any) -> list[Series]:
    """The series of a `query_range` answer's `data`; `ValueError` naming what is wrong."""
    if not isinstance(data, Mapping) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, Mapping) else type(data).__name__
        raise ValueError(f"expected a matrix of series, got {kind!r}")
    found = []
    for item in data.get("result") or []:
        points = item.get("values") or []
        times = tuple(map(float, map(itemgetter(0), points)))
        values = tuple(map(float, map(itemgetter(1), points)))  # float() reads NaN, +Inf, -Inf
        found.append(Series(dict(item.get("metric") or {}), times, values))
    return found


@dataclass(frozen=True)
class Run:
    """Consecutive instants at which the condition held."""

    start: float
    end: float  # the last instant of the run
    steps: int
    peak: float
    peak_at: float

    @property
    def seconds(self) -> float:
        """How long it held, as an alert's `for:` counts it: from the first instant to the last."""
        return self.end - self.start


@dataclass(frozen=True)
class Reading:
    """One series read against a condition."""

    series: Series
    runs: tuple[Run, ...]
    peak: float | None  # the reading furthest in the worse direction; None when there was none
    peak_at: float | None
    newest_at: float | None  # the newest sample that was a number
    last_value: float | None
    nan_samples: int
    gaps: tuple[tuple[float, float], ...]  # first and last instant of each stretch without a number

    def longest(self) -> Run | None:
        return max(self.runs, key=lambda run: (run.seconds, run.steps), default=None)

    def held_for(self, seconds: float) -> bool:
        longest = self.longest()
        return longest is not None and longest.seconds >= seconds


def read(series: Series, holds: Callable[[float], bool], step: float, worse: int = 1) -> Reading:
    """Read one series against a condition: `holds(value)`, which must hold for every value
    worse than one it holds for (a threshold); `worse` is 1 when higher values are worse,
    -1 when lower ones are. A window holds about a million values: what can be done in
    C (max, index, map) is, and only a series that breaches at all is walked value by value."""
    times, values = series.times, series.values
    nans = sum(map(math.isnan, values))
    if nans:
        kept = [(at, value) for at, value in zip(times, values, strict=True) if value == value]
        times, values = tuple(at for at, _ in kept), tuple(value for _, value in kept)
    if not values:
        return Reading(series, (), None, None, None, None, nans, ())
    peak = max(values) if worse > 0 else min(values)
    runs = _runs(times, values, holds, step, worse) if holds(peak) else ()
    return Reading(
        series,
        runs,
        peak,
        times[values.index(peak)],
        times[-1],
        values[-1],
        nans,
        _gaps(times, step),
    )


def _runs(
    times: Sequence[float], values: Sequence[float], holds: Callable[[float], bool], step: float, worse: int
) -> tuple[Run, ...]:
    runs: list[Run] = []
    current: list[float] | None = None  # start, end, steps, peak, peak_at
    for at, value in zip(times, values, strict=True):
        if not holds(value):
            continue
        if current is not None and at - current[1] <= step * CONSECUTIVE:
            current[1], current[2] = at, current[2] + 1
            if value * worse > current[3] * worse:
                current[3], current[4] = value, at
        else:
            if current is not None:
                runs.append(Run(current[0], current[1], int(current[2]), current[3], current[4]))
            current = [at, at, 1, value, at]
    if current is not None:
        runs.append(Run(current[0], current[1], int(current[2]), current[3], current[4]))
    return tuple(runs)


def _gaps(times: Sequence[float], step: float) -> tuple[tuple[float, float], ...]:
    """The first and last missing instant of each stretch without a number."""
    if times[-1] - times[0] <= (len(times) - 1) * step * 1.001:  # evenly spaced: no gap, no walk
        return ()
    return tuple(
        (before + step, after - step)
        for before, after in itertools.pairwise(times)
        if after - before > step * CONSECUTIVE
    )


def rank(readings: Sequence[Reading], worse: int = 1) -> list[Reading]:
    """Worst first: the longest run of the condition, then the peak furthest the worse way."""

    def key(reading: Reading) -> tuple[float, float]:
        longest = reading.longest()
        held = longest.seconds + longest.steps if longest is not None else -1.0
        peak = reading.peak * worse if reading.peak is not None else -math.inf
        return (-held, -peak)

    return sorted(readings, key=key)


def grid(series: Series, start: float, step: float, steps: int) -> list[float | None]:
    """The series' values at each instant of the window; None where it has no number."""
    values: list[float | None]
    first = round((series.times[0] - start) / step) if series.times else 0
    if series.times and len(series.times) == round((series.times[-1] - series.times[0]) / step) + 1:
        values = [None] * steps  # the usual case, one sample per instant without a hole: slices
        kept = list(series.values[max(0, -first) : max(0, steps - first)])
        values[max(0, first) : max(0, first) + len(kept)] = kept
    else:
        values = [None] * steps
        for at, value in zip(series.times, series.values, strict=True):
            index = round((at - start) / step)
            if 0 <= index < steps:
                values[index] = value
    return [None if value != value else value for value in values] if series.values else values


def summarise(columns: Sequence[Sequence[float | None]]) -> tuple[list[float | None], ...]:
    """Lowest, median and highest value across many series at each instant (the median of
    an even count is the upper middle one: a value some series really had)."""
    low: list[float | None] = []
    middle: list[float | None] = []
    high: list[float | None] = []
    for instant in zip(*columns, strict=True):
        present = sorted(filter(IS_NUMBER, instant))
        low.append(present[0] if present else None)
        middle.append(present[len(present) // 2] if present else None)
        high.append(present[-1] if present else None)
    return low, middle, high
