"""Atlassian Statuspage v2 `summary.json`, the shape most providers' status pages serve
(status.claude.com, and status.openai.com's compatible one): the overall indicator,
each component's status, and the unresolved incidents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from incident_lab.result import Table
from incident_lab.wording import truncate

INDICATOR_LEVELS = {"none": 0, "maintenance": 0, "minor": 1, "major": 2, "critical": 3}
DEGRADED = ("degraded_performance", "partial_outage", "major_outage")
RESOLVED = ("resolved", "postmortem", "completed")


@dataclass(frozen=True)
class Component:
    name: str
    status: str

    @property
    def degraded(self) -> bool:
        return self.status in DEGRADED


@dataclass(frozen=True)
class Incident:
    name: str
    status: str
    impact: str
    created_at: str | None
    shortlink: str | None
    latest_update: str | None
    components: tuple[str, ...]  # empty when the page does not say


@dataclass(frozen=True)
class StatusSummary:
    page: str
    indicator: str
    description: str
    updated_at: str | None
    components: tuple[Component, ...]
    incidents: tuple[Incident, ...]  # unresolved only

    def watched(self, names: Sequence[str]) -> list[Component]:
        """The components the user cares about, by case-insensitive part of a name; all if none named."""
        wanted = [name.lower() for name in names]
        return [c for c in self.components if not wanted or any(w in c.name.lower() for w in wanted)]

    def affecting(self, watched: Sequence[Component], names: Sequence[str]) -> list[Incident]:
        """Unresolved incidents touching the watched components; an incident that names no
        component counts, since the page does not say it spares them."""
        touched = {c.name for c in watched}
        return [i for i in self.incidents if not names or not i.components or touched & set(i.components)]

    def tables(self, watched: Sequence[Component]) -> list[Table]:
        mine = {c.name for c in watched}
        return [
            Table(
                "page",
                ("page", "indicator", "description", "updated_at"),
                ((self.page, self.indicator, self.description, self.updated_at),),
            ),
            Table(
                "components",
                ("name", "status", "watched"),
                tuple((c.name, c.status, c.name in mine) for c in self.components),
            ),
            Table(
                "incidents",
                ("name", "status", "impact", "created_at", "components", "shortlink", "latest_update"),
                tuple(
                    (
                        i.name,
                        i.status,
                        i.impact,
                        i.created_at,
                        ", ".join(i.components),
                        i.shortlink,
                        i.latest_update,
                    )
                    for i in self.incidents
                ),
            ),
        ]


def read_summary(data: Any) -> StatusSummary:
    """`ValueError` when the answer is not a Statuspage v2 summary."""
    try:
        status = data["status"]
        components = tuple(
            Component(str(c["name"]), str(c["status"]))
            for c in data.get("components") or []
            if not c.get("group")  # a group's status only repeats its members'
        )
        incidents = tuple(
            _incident(i) for i in data.get("incidents") or [] if i.get("status") not in RESOLVED
        )
        return StatusSummary(
            page=str((data.get("page") or {}).get("name") or ""),
            indicator=str(status["indicator"]),
            description=str(status.get("description") or ""),
            updated_at=(data.get("page") or {}).get("updated_at"),
            components=components,
            incidents=incidents,
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not a Statuspage summary ({type(error).__name__}: {error})") from None


def _incident(data: dict[str, Any]) -> Incident:
    updates = data.get("incident_updates") or []
    latest = truncate(str(updates[0].get("body") or ""), 200) if updates else None
    return Incident(
        name=str(data["name"]),
        status=str(data.get("status")),
        impact=str(data.get("impact")),
        created_at=data.get("created_at"),
        shortlink=data.get("shortlink"),
        latest_update=latest,
        components=tuple(str(c.get("name")) for c in data.get("components") or []),
    )
