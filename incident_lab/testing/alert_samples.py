"""Sample notifications of each source, as their senders document them (see
docs/configuration.md of Alertmanager, Grafana's webhook notifier, PagerDuty's v3 webhooks):
for tests, the benchmark and the README. Callers deep-copy before changing one."""

from typing import Any

GENERATOR = "http://prometheus:9090/graph?g0.expr=rate%28errors_total%5B5m%5D%29+%3E+0.05&g0.tab=1"

ALERTMANAGER: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}:{alertname="CheckoutErrors"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "incident-lab",
    "groupLabels": {"alertname": "CheckoutErrors"},
    "commonLabels": {"alertname": "CheckoutErrors", "severity": "critical", "service": "checkout"},
    "commonAnnotations": {"summary": "Checkout failing for 50% of requests"},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "CheckoutErrors", "severity": "critical", "instance": "db1:5432"},
            "annotations": {"summary": "Checkout failing", "runbook_url": "https://runbooks/checkout"},
            "startsAt": "2026-11-28T00:03:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": GENERATOR,
            "fingerprint": "1a30ba71cca2921f",
        },
        {
            "status": "firing",
            "labels": {"alertname": "CheckoutErrors", "severity": "critical", "instance": "db2:5432"},
            "annotations": {},
            "startsAt": "2026-11-28T00:00:00+00:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": GENERATOR,
            "fingerprint": "2b30ba71cca2921f",
        },
    ],
}

GRAFANA: dict[str, Any] = {
    "receiver": "incident-lab",
    "status": "firing",
    "orgId": 1,
    "version": "1",
    "state": "alerting",
    "title": "[FIRING:1] HighLatency (checkout)",
    "message": "…",
    "groupKey": '{}/{}:{alertname="HighLatency"}',
    "groupLabels": {"alertname": "HighLatency"},
    "commonLabels": {"alertname": "HighLatency", "severity": "warning", "service": "checkout"},
    "commonAnnotations": {},
    "externalURL": "https://grafana.example/",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "HighLatency"},
            "annotations": {"runbook_url": "javascript:alert(1)"},
            "startsAt": "2026-11-28T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.example/alerting/grafana/abc/view",
            "fingerprint": "c0ffee",
            "values": {"B": 44.2},
            "silenceURL": "https://grafana.example/alerting/silence/new",
            "dashboardURL": "https://grafana.example/d/checkout",
            "panelURL": "https://grafana.example/d/checkout?viewPanel=2",
        }
    ],
}

PAGERDUTY: dict[str, Any] = {
    "event": {
        "id": "01DEN3KE9NF7M3MNRHR8D4K9X3",
        "event_type": "incident.triggered",
        "resource_type": "incident",
        "occurred_at": "2026-11-28T00:01:00.000Z",
        "data": {
            "id": "PGR0VU2",
            "type": "incident",
            "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
            "number": 2,
            "status": "triggered",
            "incident_key": "d3640fbd41094207a1c11e58e46b1662",
            "created_at": "2026-11-28T00:00:30Z",
            "title": "Checkout database locked",
            "service": {"summary": "checkout", "html_url": "https://acme.pagerduty.com/services/PF9KMXH"},
            "priority": {"summary": "P2"},
            "urgency": "high",
        },
    }
}
