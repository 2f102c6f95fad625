"""Hypothesis: the alert's own condition held around the incident (and may still hold)."""

import time
from typing import Annotated

from incident_lab import Bounds, Finding, confirmed, inconclusive, probe, refuted
from incident_lab.kinds.prometheus.evidence import Threshold, WindowReading, tables
from incident_lab.kinds.prometheus.promql import expression_of, top_level_comparison
from incident_lab.kinds.prometheus.series import parse_matrix
from incident_lab.kinds.prometheus.session import PrometheusSession
from incident_lab.kinds.prometheus.window import Window, WindowError, clock

SECONDS = Bounds(min=1)


@probe(
    "prometheus.alert_expression",
    hypothesis="The alert's own condition held around the incident",
    test="The alert's PromQL (a rule's expression, or a generatorURL's g0.expr) by query_range over the "
    "window; for `data > number` the data side, read against the number, so that 'not firing' and "
    "'no data' differ",
    target="prometheus",
    budget_seconds=30.0,
)
def alert_expression(
    prom: PrometheusSession,
    *,
    expression: Annotated[str, "the alert rule's expression"] = "",
    generator_url: Annotated[str, "or the alert's generatorURL, whose g0.expr is its expression"] = "",
    for_seconds: Annotated[float, "the rule's for: how long the condition must hold", Bounds(min=0)] = 0.0,
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
    try:
        rule = expression.strip() or expression_of(generator_url)
        window = Window.around(started_at, lookback_seconds, step_seconds, time.time())
    except (ValueError, WindowError) as error:
        return inconclusive(f"Nothing to re-run: {error} (give expression=… or generator_url=…).")
    split = top_level_comparison(rule)
    if split and split.threshold is not None and split.worse and "bool" not in split.other:
        query, limit = split.data, Threshold(split.threshold, split.worse, unit, "=" in split.operator)
        condition, holds = str(limit), limit.holds
    else:  # no number to compare with: the alert fires for every sample its expression returns
        query, limit, condition, holds = rule, None, "returned a sample", lambda value: True
    answer = prom.query_range(query, window, timeout_seconds)
    if answer.problem:
        return inconclusive(answer.problem)
    seen = WindowReading.of(parse_matrix(answer.data), holds, window, limit.worse if limit else 1, unit)
    if not seen.readings:
        return inconclusive(
            seen.nothing()
            if limit
            else f"The expression returned nothing {seen.span()}: not firing, or no "
            "data (without `data > number` at its top, the probe cannot tell which)."
        )
    threshold = limit.limit if limit else None
    runs = [(run, r) for r in seen.readings for run in r.runs if run.seconds >= for_seconds]
    # Series whose condition still holds at the window's end: the incident is not over there.
    still = len({id(r) for later, r in runs if later.end >= window.last - window.step / 2})
    details = {
        "evidence": tables(
            seen, query=query, condition=condition, threshold=threshold, for_seconds=for_seconds
        ),
        "metrics": {**seen.metrics(), "still_holding": (still, "series")},
    }
    if answer.warnings:
        return inconclusive(
            f"Prometheus warned that its answer may be partial: {'; '.join(answer.warnings)}", **details
        )
    if runs:
        run, reading = min(runs, key=lambda pair: pair[0].start)
        firing = len({id(r) for _, r in runs})
        return confirmed(
            f"Held from {clock(run.start)}"
            + (f" (firing from {clock(run.start + for_seconds)}, after for)" if for_seconds else "")
            + f" and {'still holds' if still else 'no longer holds'}: {query} {condition}, "
            f"first on {reading.series.spoken} ({firing} of {len(seen.readings)} series).",
            **details,
        )
    doubt = seen.doubt(staleness_seconds)
    if doubt:
        return inconclusive(doubt, **details)
    return refuted(
        f"Never held{seen.lasting(for_seconds)} {seen.span()}: {query} {condition}; the worst was "
        f"{seen.peak_words(seen.worst)} on {seen.worst.series.spoken}.",
        **details,
    )
