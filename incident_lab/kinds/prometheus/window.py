"""The window a Prometheus probe looks at: from `lookback` before the incident's start
until now, at a step that Prometheus accepts (at most 11,000 points per series) and
that draws a readable chart.

Times are Unix seconds (floats, UTC) inside the kind, ISO 8601 text at its edges (the
`started_at` parameter, the evidence), as the result's contract wants.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from incident_lab.result import format_time, parse_time

MAX_POINTS = 11_000  # Prometheus refuses a range query with more points per series
TARGET_POINTS = 720  # about one point per two pixels of a report-wide chart
CLOCK_SKEW_SECONDS = (
    300  # a start this little ahead of now is another clock's error, as the investigation allows
)
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)


class WindowError(ValueError):
    """The window cannot be queried as asked (a start in the future, a step too fine)."""


def parse_instant(text: str) -> float:
    """ISO 8601 text as Unix seconds; a time without an offset is taken as UTC."""
    try:
        moment = parse_time(text.strip())
    except ValueError:
        raise WindowError(f"not an ISO 8601 time: {text!r} (example: 2026-11-28T00:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def iso(seconds: float) -> str:
    return format_time(dt.datetime.fromtimestamp(seconds, dt.UTC))


def clock(seconds: float) -> str:
    """A time of day as the incident template's timeline writes it: `21:52:05 UTC`."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%H:%M:%S UTC")


def choose_step(span_seconds: float) -> float:
    """The smallest round step giving at most `TARGET_POINTS` points over the span."""
    wanted = span_seconds / TARGET_POINTS
    return float(next((step for step in NICE_STEPS if step >= wanted), math.ceil(span_seconds / MAX_POINTS)))


@dataclass(frozen=True)
class Window:
    """[start, end] at `step`; `started_at` is the incident's start inside it."""

    start: float
    end: float
    step: float
    started_at: float

    @classmethod
    def around(cls, started_at: str, lookback: float, step: float | None, now: float) -> Window:
        """From `lookback` before `started_at` (default: `lookback` before now) until now.
        The start is rounded down to a multiple of the step, as dashboards do, so that
        re-runs evaluate the same instants."""
        incident = parse_instant(started_at) if started_at.strip() else now - lookback
        if incident > now + CLOCK_SKEW_SECONDS:
            raise WindowError(f"started_at {iso(incident)} is in the future (now is {iso(now)})")
        span = now - (incident - lookback)
        chosen = step if step is not None else choose_step(span)
        start = math.floor((incident - lookback) / chosen) * chosen
        if (now - start) / chosen > MAX_POINTS:
            finest = math.ceil((now - start) / MAX_POINTS)
            raise WindowError(
                f"step_seconds {chosen:g} gives {int((now - start) / chosen):,} points per series over "
                f"{now - start:,.0f} s, more than Prometheus's {MAX_POINTS:,}; use at least {finest}"
            )
        return cls(start, now, chosen, incident)

    @property
    def steps(self) -> int:
        """How many instants Prometheus evaluates: start, start + step, … up to end."""
        return int((self.end - self.start) // self.step) + 1

    @property
    def last(self) -> float:
        """The last instant evaluated (at most one step before the end)."""
        return self.start + (self.steps - 1) * self.step

    def describe(self) -> str:
        return f"{iso(self.start)} to {iso(self.end)} every {self.step:g} s"
