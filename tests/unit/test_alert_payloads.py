"""Alertmanager, Grafana and PagerDuty notifications read into one Alert."""

import copy
import json

import pytest

from incident_lab.exceptions import UsageError
from incident_lab.investigation.alerts import (
    UNMAPPED_SEVERITY,
    AlertError,
    detect_source,
    parse_alert,
)
from incident_lab.testing.alert_samples import ALERTMANAGER, GENERATOR, GRAFANA, PAGERDUTY


def test_alertmanager_payload():
    alert = parse_alert(ALERTMANAGER, "alertmanager")
    assert alert.source == "alertmanager"
    assert alert.group_key == '{}:{alertname="CheckoutErrors"}'
    assert alert.status == "firing"
    assert alert.name == "CheckoutErrors: Checkout failing for 50% of requests"
    assert alert.severity == "Critical"
    assert alert.started_at == "2026-11-28T00:00:00.000Z"  # the earliest startsAt
    assert alert.service == "checkout"
    assert alert.labels["instance"] == "db1:5432"
    assert alert.links == {
        "Generator": GENERATOR,
        "Runbook": "https://runbooks/checkout",
        "Alertmanager": "http://alertmanager:9093",
    }
    assert alert.expression == "rate(errors_total[5m]) > 0.05"
    assert alert.ended_at == ""


def test_alertmanager_resolved_takes_the_latest_end():
    resolved = copy.deepcopy(ALERTMANAGER)
    resolved["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2026-11-28T00:20:00Z"
    resolved["alerts"][1]["endsAt"] = "2026-11-28T00:25:00Z"
    alert = parse_alert(resolved)
    assert (alert.status, alert.ended_at) == ("resolved", "2026-11-28T00:25:00.000Z")


def test_grafana_payload():
    alert = parse_alert(GRAFANA, "grafana")
    assert detect_source(GRAFANA) == "grafana"
    assert alert.name == "HighLatency"
    assert alert.severity == "Medium"
    assert alert.group_key == '{}/{}:{alertname="HighLatency"}'
    assert list(alert.links) == ["Generator", "Dashboard", "Panel", "Silence", "Grafana"]
    assert "javascript:alert(1)" not in alert.links.values()  # only http(s) links are shown
    assert alert.expression == ""


def test_grafana_without_alertname_is_named_by_its_title_and_grouped_by_fingerprint():
    payload = copy.deepcopy(GRAFANA)
    del payload["groupKey"]
    payload["commonLabels"] = {}
    payload["alerts"][0]["labels"] = {}
    alert = parse_alert(payload, "grafana")
    assert (alert.name, alert.group_key) == ("[FIRING:1] HighLatency (checkout)", "c0ffee")


def test_pagerduty_payloads():
    alert = parse_alert(PAGERDUTY)
    assert (alert.source, alert.group_key, alert.status) == ("pagerduty", "PGR0VU2", "firing")
    assert alert.name == "Checkout database locked"
    assert alert.severity == "High"  # P2
    assert alert.started_at == "2026-11-28T00:00:30.000Z"
    assert alert.service == "checkout"
    assert alert.links["PagerDuty incident"] == "https://acme.pagerduty.com/incidents/PGR0VU2"
    resolved = copy.deepcopy(PAGERDUTY)
    resolved["event"]["event_type"] = "incident.resolved"
    resolved["event"]["occurred_at"] = "2026-11-28T00:40:00Z"
    ended = parse_alert(resolved, "pagerduty")
    assert (ended.status, ended.ended_at) == ("resolved", "2026-11-28T00:40:00.000Z")


def test_severity_map_can_be_overridden_and_unknown_values_are_not_low():
    assert parse_alert(ALERTMANAGER, severity_map={"CRITICAL": "Medium"}).severity == "Medium"
    unknown = copy.deepcopy(ALERTMANAGER)
    unknown["commonLabels"]["severity"] = "sev-9"
    assert parse_alert(unknown).severity == UNMAPPED_SEVERITY
    urgent = copy.deepcopy(PAGERDUTY)
    del urgent["event"]["data"]["priority"]
    urgent["event"]["data"]["urgency"] = "low"
    assert parse_alert(urgent).severity == "Low"


def broken(document, path, value):
    changed = copy.deepcopy(document)
    *parents, last = path
    place = changed
    for key in parents:
        place = place[key]
    if value is KeyError:
        del place[last]
    else:
        place[last] = value
    return changed


@pytest.mark.parametrize(
    ("document", "source", "field"),
    [
        (broken(ALERTMANAGER, ["alerts"], []), "alertmanager", "alertmanager.alerts"),
        (broken(ALERTMANAGER, ["status"], "pending"), "alertmanager", "alertmanager.status"),
        (broken(ALERTMANAGER, ["version"], "3"), "alertmanager", "version"),
        (broken(ALERTMANAGER, ["alerts", 0, "startsAt"], "yesterday"), "", "alerts[0].startsAt"),
        (broken(ALERTMANAGER, ["alerts", 1, "startsAt"], KeyError), "", "alerts[1].startsAt is missing"),
        (broken(ALERTMANAGER, ["alerts", 0, "labels"], ["a"]), "", "alerts[0].labels"),
        (broken(ALERTMANAGER, ["alerts", 0], "text"), "", "alerts[0] must be an object"),
        (broken(GRAFANA, ["status"], 3), "grafana", "grafana.status must be a string"),
        (broken(PAGERDUTY, ["event", "event_type"], "incident.acknowledged"), "", "event_type"),
        (broken(PAGERDUTY, ["event", "data", "created_at"], KeyError), "", "data.created_at"),
        (broken(PAGERDUTY, ["event", "data"], None), "", "pagerduty.event.data"),
        ({"hello": "world"}, "", "unknown payload shape"),
        ([1, 2], "", "the payload must be an object"),
        (ALERTMANAGER, "opsgenie", "unknown alert source"),
    ],
)
def test_malformed_payloads_name_the_field(document, source, field):
    with pytest.raises(AlertError) as raised:
        parse_alert(document, source)
    message = str(raised.value)
    assert field in message and "\n" not in message
    assert isinstance(raised.value, UsageError)


def test_payloads_survive_a_json_round_trip():
    for document in (ALERTMANAGER, GRAFANA, PAGERDUTY):
        assert parse_alert(json.loads(json.dumps(document))) == parse_alert(document)


def test_the_alert_starts_the_timeline_once_and_records_its_resolve_and_return():
    from incident_lab.investigation.alerts import alert_rounds, alert_values
    from incident_lab.investigation.history import IncidentHistory

    fired = alert_values(parse_alert(ALERTMANAGER))["alert"]
    first = alert_rounds(fired, IncidentHistory())
    assert [(r.at, r.note) for r in first] == [
        (
            "2026-11-28T00:00:00.000Z",
            "First alert fired (CheckoutErrors: Checkout failing for 50% of requests)",
        )
    ]
    history = IncidentHistory(first)
    assert alert_rounds(fired, history) == []  # a re-fire: the first firing is said once
    resolved = {**fired, "status": "resolved", "resolved_at": "2026-11-28T00:30:00.000Z"}
    closing = alert_rounds(resolved, history)
    assert [(r.at, r.note.split(" (")[0]) for r in closing] == [
        ("2026-11-28T00:30:00.000Z", "Alert resolved")
    ]
    assert alert_rounds(resolved, history.then(*closing)) == []
    back = alert_rounds(fired, history.then(*closing))
    assert [r.note.split(" (")[0] for r in back] == ["Alert fired again"]
    assert [entry.text.split(" (")[0] for entry in history.then(*closing, *back).timeline()] == [
        "First alert fired",
        "Alert resolved",
        "Alert fired again",
    ]
    assert alert_rounds({}, history) == []


def test_investigation_parameters_check_the_alerts_links_and_record():
    from incident_lab.investigation.alerts import alert_values
    from incident_lab.investigation.params import resolve
    from incident_lab.runner import default_registry

    values = {**alert_values(parse_alert(PAGERDUTY)), "targets": {"postgres": "service=shop"}}
    params = resolve(values, default_registry())
    assert (params.service, params.severity, params.started_at) == (
        "checkout",
        "High",
        "2026-11-28T00:00:30.000Z",
    )
    assert params.notebook_parameters()["links"] == params.links
    with pytest.raises(UsageError, match="link 'Runbook' must be an http"):
        resolve({**values, "links": {"Runbook": "javascript:alert(1)"}}, default_registry())
    with pytest.raises(UsageError, match="alert has unknown keys: labels"):
        resolve({**values, "alert": {"labels": {}}}, default_registry())


def test_the_report_header_shows_the_service_the_alert_and_its_links_as_text_and_safe_links():
    import copy as copying

    from incident_lab.investigation.alerts import alert_values
    from incident_lab.investigation.history import IncidentHistory
    from incident_lab.investigation.params import resolve
    from incident_lab.investigation.state import Investigation
    from incident_lab.render.sections import Html, Markdown, header
    from incident_lab.runner import default_registry

    payload = copying.deepcopy(ALERTMANAGER)
    payload["status"] = "resolved"
    payload["commonLabels"]["service"] = "check*out"
    payload["alerts"][0]["annotations"]["runbook_url"] = 'https://runbooks/a"><script>'
    payload["alerts"][0]["endsAt"] = "2026-11-28T00:45:00Z"
    values = {**alert_values(parse_alert(payload)), "targets": {"postgres": "service=shop"}}
    registry = default_registry()
    shown = header(Investigation(resolve(values, registry), IncidentHistory(), registry))
    markdown = next(output.text for output in shown if isinstance(output, Markdown))
    assert "**Service:** check\\*out" in markdown  # text, not emphasis
    assert (
        "**Alert:** resolved (alertmanager), first fired `2026-11-28 00:00:00 UTC`, "
        "resolved `2026-11-28 00:45:00 UTC`" in markdown
    )
    links = next(output.text for output in shown if isinstance(output, Html))
    assert (
        '<a href="https://runbooks/a&quot;&gt;&lt;script&gt;" rel="noopener noreferrer">Runbook</a>' in links
    )
    assert "<script>" not in links
