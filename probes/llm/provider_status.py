"""Hypothesis: the LLM provider itself is having an outage, by its own status page."""

from typing import Annotated

from incident_lab import Finding, confirmed, inconclusive, probe, refuted
from incident_lab.kinds.llm.providers import LlmSession
from incident_lab.kinds.llm.statuspage import INDICATOR_LEVELS, read_summary
from incident_lab.wording import truncate


@probe(
    "llm.provider_status",
    hypothesis="LLM provider outage: its status page shows degraded components or an open incident",
    test="Read the provider's Statuspage summary.json: indicator, component statuses, unresolved incidents",
    target="llm",
)
def provider_status(
    llm: LlmSession,
    *,
    status_url: Annotated[str, "the status page or its summary.json; empty: the provider's own"] = "",
    # Never mutated; `[]` reads as "none" in the catalogue, where `None` would not.
    components: Annotated[list[str], "components you care about (parts of names); empty: all"] = [],  # noqa: B006
) -> Finding:
    url = llm.status_url(status_url)
    if url is None:
        return inconclusive(f"No Statuspage is known for {llm.target.provider}: give status_url=…")
    answer = llm.request("GET", url, timeout=10.0, follow_redirects=3)
    if answer.status is None:
        return inconclusive(f"The status page did not answer: {answer.detail}.")
    if answer.status != 200:
        return inconclusive(f"The status page answered HTTP {answer.status}: {truncate(answer.text, 120)}")
    try:
        summary = read_summary(answer.json())
    except ValueError as error:
        kind = answer.headers.get("content-type", "no content type")
        return inconclusive(
            f"The status page's answer ({kind}) is not a Statuspage summary, so it says nothing "
            f"either way: {truncate(str(error), 120)}"
        )
    watched = summary.watched(components)
    degraded = [c for c in watched if c.degraded]
    incidents = summary.affecting(watched, components)
    evidence = summary.tables(watched)
    metrics = {
        "indicator_level": (INDICATOR_LEVELS.get(summary.indicator), "level"),
        "degraded_components": (len(degraded), "components"),
        "unresolved_incidents": (len(incidents), "incidents"),
    }
    if components and not watched:
        return inconclusive(
            f"No component on {summary.page or url} matches {', '.join(components)}.",
            evidence=evidence,
            metrics=metrics,
        )
    if degraded or incidents:
        parts = [f"{c.name}: {c.status.replace('_', ' ')}" for c in degraded]
        parts += [f"unresolved incident “{i.name}” ({i.status}, impact {i.impact})" for i in incidents]
        return confirmed(
            f"{summary.page or 'The provider'} reports {summary.indicator!r}: " + "; ".join(parts) + ".",
            evidence=evidence,
            metrics=metrics,
            hints=[f"Follow “{i.name}”: {i.shortlink}" for i in incidents if i.shortlink],
        )
    page = summary.page or "The provider"
    return refuted(
        f"{page} reports {summary.indicator!r} ({summary.description or 'no text'}); "
        f"none of {len(watched)} watched component(s) degraded and no unresolved incident touching them.",
        evidence=evidence,
        metrics=metrics,
    )
