"""What a Prometheus result charts: its series over the window, from the result alone."""

from __future__ import annotations

from incident_lab.charts import Band, Line, TimeSeriesChart
from incident_lab.kinds.prometheus.evidence import BAND_ROWS, decode
from incident_lab.kinds.prometheus.window import parse_instant
from incident_lab.result import Result
from incident_lab.wording import truncate

TITLE_LENGTH = 90


def window_chart(result: Result) -> TimeSeriesChart | None:
    """The worst series as lines, the rest as a band, the threshold, a line where the
    incident started and the breaches shaded; None when the result holds no series."""
    window = result.table("window").records()[0]
    rows = result.table("chart_series").records()
    if not rows:
        return None
    start, step = parse_instant(str(window["start"])), float(str(window["step_seconds"]))
    steps = len(str(rows[0]["values"]).split())
    times = tuple(start + index * step for index in range(steps))
    query = truncate(str(window["query"]), TITLE_LENGTH) or ""
    lines = tuple(
        Line(_label(str(row["series"]), query), times, decode(str(row["values"])))
        for row in rows
        if row["shown_as"] == "line"
    )
    band = {str(row["shown_as"]): decode(str(row["values"])) for row in rows if row["shown_as"] in BAND_ROWS}
    rest = None
    if band:
        label = next(str(row["series"]) for row in rows if row["shown_as"] in BAND_ROWS)
        rest = Band(label, times, band["low"], band["median"], band["high"])
    end = parse_instant(str(window["end"]))
    drawn = {str(row["series"]) for row in rows if row["shown_as"] == "line"}
    shaded = tuple(
        (parse_instant(str(row["start"])), min(parse_instant(str(row["end"])) + step, end))
        for row in result.table("breaches").records()
        if row["series"] in drawn
    )
    threshold = window["threshold"]
    unit = str(result.params.get("unit") or "")
    return TimeSeriesChart(
        title=query,
        lines=lines,
        unit="" if unit == "ratio" else unit,
        rest=rest,
        threshold=threshold if isinstance(threshold, int | float) else None,
        threshold_label=str(window["condition"]),
        marker=parse_instant(str(window["started_at"])),
        marker_label="incident start",
        shaded=shaded,
        percent=unit == "ratio",
    )


def _label(series: str, query: str) -> str:
    """A series' name for the legend; an aggregate without labels (`{}`) is the query's result."""
    return series if series != "{}" else query
