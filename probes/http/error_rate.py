"""Hypothesis: users see errors, because a share of requests to the service fail."""

from collections import Counter
from typing import Annotated

from incident_lab import Bounds, Finding, OneOf, Table, confirmed, inconclusive, probe, refuted
from incident_lab.kinds.http import charts
from incident_lab.kinds.http.session import HttpSession, Response, percentile, safe_url
from incident_lab.wording import truncate


def is_error(answer: Response, count_4xx: bool) -> bool:
    if answer.status is None:
        return True
    return answer.status >= 500 or (count_4xx and answer.status >= 400)


@probe(
    "http.error_rate",
    hypothesis="User impact: a share of requests to the service fail (5xx, timeouts, connection errors)",
    test="Send N requests to the URL with bounded concurrency and total time, and count the failures",
    target="http",
    budget_seconds=30.0,
    chart=charts.latency,
    symptom="User Impact",
)
def error_rate(
    site: HttpSession,
    *,
    requests: Annotated[int, "how many requests to send", Bounds(min=1, max=1000)] = 20,
    concurrency: Annotated[int, "the most requests in flight at once", Bounds(min=1, max=50)] = 5,
    timeout_seconds: Annotated[
        float, "how long one request may take before it counts as failed", Bounds(min=0.1, below_budget=True)
    ] = 5.0,
    total_seconds: Annotated[
        float, "the most time all requests together may take", Bounds(min=0.1, below_budget=True)
    ] = 20.0,
    method: Annotated[str, "HTTP method: the probe must not change anything", OneOf("GET", "HEAD")] = "GET",
    count_4xx: Annotated[bool, "count 4xx answers as errors too"] = False,
    threshold: Annotated[float, "error rate that confirms user impact", Bounds(min=0, max=1)] = 0.05,
) -> Finding:
    site.note(
        f"{method} {safe_url(site.url)}, {requests} times, {concurrency} at a time, "
        f"timeout {timeout_seconds:g} s each, all within {total_seconds:g} s"
    )
    answers = site.fan_out(
        method,
        site.url,
        count=requests,
        concurrency=concurrency,
        total_seconds=total_seconds,
        timeout=timeout_seconds,
    )
    # Requests the time limit stopped say nothing about the service: they are left out.
    done = [a for a in answers if a.failure != "cut_off"]
    failed = [a for a in done if is_error(a, count_4xx)]
    latencies = [a.elapsed_ms for a in done if a.status is not None]
    rate = len(failed) / len(done) if done else None
    counts = Counter(a.outcome for a in answers)
    failing = {a.outcome for a in failed}
    evidence = [
        Table(
            "status_counts",
            ("outcome", "count", "error"),
            tuple((outcome, n, outcome in failing) for outcome, n in sorted(counts.items())),
        ),
        Table(
            "sample_errors",
            ("outcome", "latency_ms", "detail"),
            tuple((a.outcome, a.elapsed_ms, a.detail or truncate(a.text, 160)) for a in failed[:5]),
        ),
    ]
    metrics = {
        "error_rate": (round(rate, 4) if rate is not None else None, "ratio"),
        "latency_p50_ms": (percentile(latencies, 0.50), "ms"),
        "latency_p95_ms": (percentile(latencies, 0.95), "ms"),
        "latency_max_ms": (max(latencies, default=None), "ms"),
        "requests_completed": (len(done), "requests"),
    }
    details = {"evidence": evidence, "metrics": metrics}
    cut = f"; {counts['cut_off']} not finished within the total time" if counts["cut_off"] else ""
    if rate is None:
        return inconclusive(f"No request finished within {total_seconds:g} s{cut}.", **details)
    if all(a.failure == "connection_error" for a in done):
        # From here a total outage and a network that cannot reach the service look the same.
        return inconclusive(
            f"No request reached the server ({done[0].detail}): a full outage, or this machine cannot "
            "reach it; try from where users are.",
            **details,
        )
    breakdown = ", ".join(f"{outcome} {n} times" for outcome, n in Counter(a.outcome for a in failed).items())
    latency = (
        f"latency p50 {metrics['latency_p50_ms'][0]} ms, p95 {metrics['latency_p95_ms'][0]} ms"
        if latencies
        else "no answer at all"
    )
    verdict = confirmed if rate >= threshold else refuted
    return verdict(
        f"{len(failed)} of {len(done)} requests failed ({rate:.0%}, threshold {threshold:.0%})"
        + (f": {breakdown}" if breakdown else "")
        + f"; {latency}{cut}.",
        **details,
    )
