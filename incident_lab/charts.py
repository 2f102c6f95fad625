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


Chart = BarChart
