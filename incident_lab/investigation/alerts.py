"""Alert notifications that open an incident: Alertmanager, Grafana and PagerDuty webhooks.

`parse_alert` reads one notification into an `Alert`: which source sent it, the group
it belongs to (one incident per group), firing or resolved, the incident's name,
severity, start, service, labels, every link and the alert's own PromQL.

- Prometheus Alertmanager webhook version 4: `groupKey`, `status`, `commonLabels`,
  `commonAnnotations`, `externalURL`, `alerts[]` (`labels`, `annotations`, `startsAt`,
  `endsAt`, `generatorURL`, `fingerprint`).
- Grafana alerting webhook: the same envelope (`version: "1"`, `orgId`) plus `title`,
  `state`, and per alert `dashboardURL`, `panelURL`, `silenceURL`.
- PagerDuty v3 webhook `incident.triggered` / `incident.resolved`: `event.data` with
  `id`, `title`, `priority`, `urgency`, `service`, `created_at`, `html_url`.

Severity comes from the `severity` label (Alertmanager, Grafana) or from PagerDuty's
priority, then urgency, through `SEVERITY_MAP` (case-insensitive); a routing file's
`severity_map` adds to it or overrides it. A value the map does not know, or none,
gives `UNMAPPED_SEVERITY`: an alert woke someone, so it is not Low by default.
Only http(s) links are kept: a link is shown in the report, where `javascript:` has no place.
A payload that is not one of these raises `AlertError` (a `UsageError`) naming the field.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from incident_lab.exceptions import UsageError
from incident_lab.investigation.history import IncidentHistory, Round
from incident_lab.kinds.prometheus.promql import expression_of
from incident_lab.result import format_time, parse_time, utc_now

SOURCES = ("alertmanager", "grafana", "pagerduty")
FIRING, RESOLVED = "firing", "resolved"
SEVERITY_MAP: dict[str, str] = {
    "critical": "Critical",
    "page": "Critical",
    "p1": "Critical",
    "error": "High",
    "high": "High",
    "p2": "High",
    "warning": "Medium",
    "warn": "Medium",
    "medium": "Medium",
    "p3": "Medium",
    "info": "Low",
    "low": "Low",
    "p4": "Low",
    "p5": "Low",
}
UNMAPPED_SEVERITY = "High"
PAGERDUTY_EVENTS = {"incident.triggered": FIRING, "incident.resolved": RESOLVED}
# The largest notification read (a webhook body, a file): Alertmanager's with a few hundred
# alerts is well under it; anything bigger is a mistake or an attack.
MAX_NOTIFICATION_BYTES = 1024 * 1024
# The timeline's alert entries: rounds without results, labelled ALERT_ROUND.
ALERT_ROUND = "alert"
FIRST_FIRED = "First alert fired"
RESOLVED_NOTE = "Alert resolved"
FIRED_AGAIN = "Alert fired again"
# Alertmanager's endsAt for an alert still firing: the zero time of Go.
GO_ZERO_YEAR = 1


class AlertError(UsageError):
    """A notification that is not one of the payloads understood; the message names the field."""


@dataclass(frozen=True)
class Alert:
    source: str
    group_key: str
    status: str  # FIRING or RESOLVED
    name: str
    severity: str  # one of the investigation's severities
    started_at: str  # UTC, the contract's time format
    ended_at: str = ""  # when it resolved, for a resolved notification
    service: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # label → http(s) URL, in the order found
    expression: str = ""  # the alert's PromQL (g0.expr of its generatorURL)
    generator_url: str = ""

    def summary(self) -> dict[str, str]:
        """What an investigation records of the alert that opened it (see `params.alert`)."""
        return {
            "source": self.source,
            "group_key": self.group_key,
            "status": self.status,
            "name": self.name,
            "fired_at": self.started_at,
            "resolved_at": self.ended_at,
        }


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise AlertError(f"{where} must be an object, got {type(value).__name__}")
    return value


def _text(container: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str:
    value = container.get(name)
    if value is None or value == "":
        if required:
            raise AlertError(f"{where}.{name} is missing")
        return ""
    if not isinstance(value, str):
        raise AlertError(f"{where}.{name} must be a string, got {type(value).__name__}")
    return value


def _labels(container: Mapping[str, Any], name: str, where: str) -> dict[str, str]:
    given = container.get(name) or {}
    if not isinstance(given, Mapping) or not all(isinstance(v, str) for v in given.values()):
        raise AlertError(f"{where}.{name} must be an object of strings")
    return {str(key): value for key, value in given.items()}


def _time(text: str, where: str) -> dt.datetime:
    try:
        moment = parse_time(text)
    except ValueError:
        raise AlertError(f"{where} is not an ISO 8601 time: {text[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def severity_of(values: list[str], severity_map: Mapping[str, str] | None = None) -> str:
    """The first of `values` the map knows (the routing file's entries before the defaults)."""
    chosen = {**SEVERITY_MAP, **{key.lower(): value for key, value in (severity_map or {}).items()}}
    for value in values:
        if value and value.strip().lower() in chosen:
            return chosen[value.strip().lower()]
    return UNMAPPED_SEVERITY


def expression_in(generator_url: str) -> str:
    """The PromQL of a Prometheus generatorURL (`g0.expr`), or nothing."""
    try:
        return expression_of(generator_url)
    except ValueError:
        return ""


def _add_link(links: dict[str, str], label: str, url: str) -> None:
    if urlsplit(url).scheme in ("http", "https") and url not in links.values():
        name, number = label, 2
        while name in links:
            name, number = f"{label} {number}", number + 1
        links[name] = url


def detect_source(document: Mapping[str, Any]) -> str:
    """Which sender's payload this is, by its shape."""
    if "event" in document:
        return "pagerduty"
    if "alerts" in document and ("orgId" in document or "state" in document or "title" in document):
        return "grafana"
    if "alerts" in document:
        return "alertmanager"
    raise AlertError("unknown payload shape: neither alerts (Alertmanager, Grafana) nor event (PagerDuty)")


def decode_notification(raw: bytes) -> Any:
    """A notification's JSON, or `AlertError` saying in one line why it is none."""
    if len(raw) > MAX_NOTIFICATION_BYTES:
        raise AlertError(f"the notification is larger than {MAX_NOTIFICATION_BYTES // 1024} KiB")
    try:
        return json.loads(raw)
    except RecursionError:
        raise AlertError("the notification is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
        raise AlertError(f"the notification is not valid JSON: {str(error).splitlines()[0][:80]}") from None


def parse_alert(document: Any, source: str = "", severity_map: Mapping[str, str] | None = None) -> Alert:
    """One notification as an `Alert`; `source` as the endpoint says, else from the shape."""
    document = _mapping(document, "the payload")
    source = source or detect_source(document)
    if source == "pagerduty":
        return _pagerduty(document, severity_map)
    if source in ("alertmanager", "grafana"):
        return _alert_group(document, source, severity_map)
    raise AlertError(f"unknown alert source {source!r} (choose from {', '.join(SOURCES)})")


def _alert_group(document: Mapping[str, Any], source: str, severity_map: Mapping[str, str] | None) -> Alert:
    if source == "alertmanager" and str(document.get("version", "4")) != "4":
        raise AlertError(f"version {document.get('version')!r} is not Alertmanager's webhook version 4")
    status = _text(document, "status", source)
    if status not in (FIRING, RESOLVED):
        raise AlertError(f"{source}.status must be firing or resolved, got {status[:40]!r}")
    alerts = document.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise AlertError(f"{source}.alerts must be a non-empty list")
    common = _labels(document, "commonLabels", source)
    annotations = _labels(document, "commonAnnotations", source)
    starts, ends, links = [], [], {}
    first_labels: dict[str, str] = {}
    first_annotations: dict[str, str] = {}
    generator_url = ""
    for number, item in enumerate(alerts):
        where = f"{source}.alerts[{number}]"
        alert = _mapping(item, where)
        labels = _labels(alert, "labels", where)
        notes = _labels(alert, "annotations", where)
        first_labels, first_annotations = first_labels or labels, first_annotations or notes
        starts.append(_time(_text(alert, "startsAt", where), f"{where}.startsAt"))
        ended = _text(alert, "endsAt", where, required=False)
        if ended and _time(ended, f"{where}.endsAt").year != GO_ZERO_YEAR:
            ends.append(_time(ended, f"{where}.endsAt"))
        generator = _text(alert, "generatorURL", where, required=False)
        generator_url = generator_url or (generator if expression_in(generator) else "")
        _add_link(links, "Generator", generator)
        _add_link(links, "Runbook", notes.get("runbook_url", ""))
        for name, label in (("dashboardURL", "Dashboard"), ("panelURL", "Panel"), ("silenceURL", "Silence")):
            _add_link(links, label, _text(alert, name, where, required=False))
    external = _text(document, "externalURL", source, required=False)
    _add_link(links, "Grafana" if source == "grafana" else "Alertmanager", external)
    labels = {**first_labels, **common}
    alertname = labels.get("alertname", "")
    summary = annotations.get("summary") or first_annotations.get("summary", "")
    title = _text(document, "title", source, required=False) if source == "grafana" else ""
    name = ": ".join(filter(None, [alertname, summary])) or title
    if not name:
        raise AlertError(f"{source}.commonLabels.alertname is missing (and there is no summary or title)")
    group_key = _text(document, "groupKey", source, required=False) or str(
        _mapping(alerts[0], f"{source}.alerts[0]").get("fingerprint") or ""
    )
    if not group_key:
        raise AlertError(f"{source}.groupKey is missing (and alerts[0].fingerprint too)")
    return Alert(
        source=source,
        group_key=group_key,
        status=status,
        name=name,
        severity=severity_of([labels.get("severity", "")], severity_map),
        started_at=format_time(min(starts)),
        ended_at=format_time(max(ends)) if status == RESOLVED and ends else "",
        service=labels.get("service", ""),
        labels=labels,
        links=links,
        expression=expression_in(generator_url),
        generator_url=generator_url,
    )


def _pagerduty(document: Mapping[str, Any], severity_map: Mapping[str, str] | None) -> Alert:
    event = _mapping(document.get("event"), "pagerduty.event")
    event_type = _text(event, "event_type", "pagerduty.event")
    if event_type not in PAGERDUTY_EVENTS:
        raise AlertError(
            f"pagerduty.event.event_type {event_type[:40]!r} is not one of {', '.join(PAGERDUTY_EVENTS)}"
        )
    data = _mapping(event.get("data"), "pagerduty.event.data")
    where = "pagerduty.event.data"
    created = _time(_text(data, "created_at", where), f"{where}.created_at")
    occurred = _text(event, "occurred_at", "pagerduty.event", required=False)
    status = PAGERDUTY_EVENTS[event_type]
    service = _mapping(data.get("service") or {}, f"{where}.service")
    priority = _mapping(data.get("priority") or {}, f"{where}.priority")
    links: dict[str, str] = {}
    _add_link(links, "PagerDuty incident", _text(data, "html_url", where, required=False))
    _add_link(links, "PagerDuty service", _text(service, "html_url", f"{where}.service", required=False))
    ended = _time(occurred, "pagerduty.event.occurred_at") if status == RESOLVED and occurred else None
    return Alert(
        source="pagerduty",
        group_key=_text(data, "id", where),
        status=status,
        name=_text(data, "title", where),
        severity=severity_of(
            [
                _text(priority, "summary", f"{where}.priority", required=False),
                _text(data, "urgency", where, required=False),
            ],
            severity_map,
        ),
        started_at=format_time(created),
        ended_at=format_time(ended) if ended else "",
        service=_text(service, "summary", f"{where}.service", required=False),
        labels={},
        links=links,
    )


def alert_values(alert: Alert) -> dict[str, Any]:
    """The investigation parameters an alert fills: the rest come from a route and the user."""
    return {
        "incident": alert.name,
        "severity": alert.severity,
        "date": alert.started_at[:10],  # the alert's day names the incident's folder, re-fires included
        "started_at": alert.started_at,
        "service": alert.service,
        "links": dict(alert.links),
        "alert": alert.summary(),
    }


def alert_rounds(alert: Mapping[str, str], earlier: IncidentHistory) -> list[Round]:
    """What the alert adds to the incident's timeline that earlier runs have not recorded:
    the first firing at the alert's own time, a resolve, a firing again after a resolve."""
    if not alert:
        return []
    said = [round_ for round_ in earlier.rounds if round_.label == ALERT_ROUND]
    name = alert.get("name", "")
    rounds = []
    if not said and alert.get("fired_at"):
        said.append(Round(ALERT_ROUND, [], at=alert["fired_at"], note=f"{FIRST_FIRED} ({name})"))
        rounds.append(said[-1])
    last = said[-1] if said else Round(ALERT_ROUND, [])
    if alert.get("status") == RESOLVED and not last.note.startswith(RESOLVED_NOTE):
        at = alert.get("resolved_at") or format_time(utc_now())
        rounds.append(Round(ALERT_ROUND, [], at=at, note=f"{RESOLVED_NOTE} ({name})"))
    elif alert.get("status") != RESOLVED and last.note.startswith(RESOLVED_NOTE):
        # A group that fires again may still carry an alert that began before the resolve.
        fired = alert.get("fired_at", "")
        at = fired if fired > last.at else format_time(utc_now())
        rounds.append(Round(ALERT_ROUND, [], at=at, note=f"{FIRED_AGAIN} ({name})"))
    return rounds
