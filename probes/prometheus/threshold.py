"""Hypothesis: a metric breached its threshold around the incident."""

import time
from typing import Annotated

from incident_lab import Bounds, Finding, confirmed, inconclusive, probe, refuted
from incident_lab.kinds.prometheus.evidence import Threshold, WindowReading, held_words, tables
from incident_lab.kinds.prometheus.series import parse_matrix
from incident_lab.kinds.prometheus.session import PrometheusSession
from incident_lab.kinds.prometheus.window import Window, WindowError

SECONDS = Bounds(min=1)


@probe(
    "prometheus.threshold",
    hypothesis="A metric breached its threshold around the incident",
    test="One query_range of the PromQL from lookback_seconds before the incident's start until now, "
    "each series read against the threshold",
    target="prometheus",
    budget_seconds=30.0,
)
def threshold(
    prom: PrometheusSession,
    *,
    query: Annotated[str, "the PromQL expression, e.g. an error ratio"] = "",
    above: Annotated[float | None, "breached when a value is above this"] = None,
    below: Annotated[float | None, "breached when a value is below this (instead of above)"] = None,
    for_seconds: Annotated[float, "how long a breach must last to count", Bounds(min=0)] = 0.0,
    lookback_seconds: Annotated[float, "how long before the incident's start to look", SECONDS] = 1800.0,
    step_seconds: Annotated[
        float | None, "seconds between points; default: about 720 points", SECONDS
    ] = None,
    staleness_seconds: Annotated[float, "a newest sample older than this is stale data", SECONDS] = 300.0,
    started_at: Annotated[str, "when the incident started, ISO 8601; default: the investigation's"] = "",
    unit: Annotated[str, "how to show values: ratio (as a percentage), s, bytes… or nothing"] = "",
    timeout_seconds: Annotated[
        float, "how long Prometheus may take", Bounds(min=0.1, below_budget=True)
    ] = 10.0,
) -> Finding:
    given = [Threshold(value, worse, unit) for value, worse in ((above, 1), (below, -1)) if value is not None]
    if not query.strip() or len(given) != 1:
        return inconclusive(
            "Nothing to test: give the PromQL (query=…) and one threshold, above=… or below=…."
        )
    (limit,) = given
    try:
        window = Window.around(started_at, lookback_seconds, step_seconds, time.time())
    except WindowError as error:
        return inconclusive(f"Cannot query that window: {error}.")
    answer = prom.query_range(query, window, timeout_seconds)
    if answer.problem:
        return inconclusive(answer.problem)
    seen = WindowReading.of(parse_matrix(answer.data), limit.holds, window, limit.worse, unit)
    if not seen.readings:
        return inconclusive(seen.nothing())
    details = {
        "evidence": tables(
            seen, query=query, condition=str(limit), threshold=limit.limit, for_seconds=for_seconds
        ),
        "metrics": seen.metrics(),
    }
    if answer.warnings:
        return inconclusive(
            f"Prometheus warned that its answer may be partial: {'; '.join(answer.warnings)}", **details
        )
    held, worst, count = seen.held(for_seconds), seen.worst, f"{len(seen.readings)} series"
    if held:
        return confirmed(
            f"{str(limit).capitalize()} {held_words(worst, unit)}; on {worst.series.spoken} "
            f"({len(held)} of {count} breached).",
            **details,
        )
    doubt = seen.doubt(staleness_seconds)
    if doubt:
        return inconclusive(doubt, **details)
    brief = f"; it went {limit} {held_words(worst, unit)}, too briefly" if worst.runs else ""
    return refuted(
        f"Never {limit}{seen.lasting(for_seconds)} {seen.span()} on any of {count}; the worst was "
        f"{seen.peak_words(worst)} on {worst.series.spoken}{brief}.",
        **details,
    )
