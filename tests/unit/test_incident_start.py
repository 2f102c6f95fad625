"""The investigation's incident start and symptoms: `started_at` checked and handed to
every probe that declares it (unless its hypothesis sets one), a hypothesis's `symptom`,
and the template's symptom table filled from the results that measure each symptom."""

import datetime as dt

import pytest

from incident_lab import Result, UsageError, Verdict
from incident_lab.investigation.history import IncidentHistory
from incident_lab.investigation.params import incident_start, resolve
from incident_lab.investigation.state import Investigation
from incident_lab.registry import load_registry
from incident_lab.render.sections import Html, Markdown, symptoms

REGISTRY = load_registry()
NOW = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)
ERROR_RATIO = "sum(rate(http_requests_total{code=~'5..'}[1m])) / sum(rate(http_requests_total[1m]))"


def values(**extra):
    return {
        "incident": "Checkout failing",
        "severity": "High",
        "targets": {"prom": "prometheus:http://127.0.0.1:9090", "http": "http://127.0.0.1:8080/health"},
        "hypotheses": [
            {
                "probe": "prometheus.threshold",
                "params": {"query": ERROR_RATIO, "above": 0.05},
                "symptom": "user impact",
            },
            {"probe": "http.error_rate", "params": {"requests": 3}},
        ],
        **extra,
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", "2026-11-28T00:30:00.000Z"),
        (None, "2026-11-28T00:30:00.000Z"),
        ("2026-11-28T00:10:00Z", "2026-11-28T00:10:00.000Z"),
        ("2026-11-28T02:10:00+02:00", "2026-11-28T00:10:00.000Z"),
        ("2026-11-28T00:10:00", "2026-11-28T00:10:00.000Z"),  # no offset: UTC
        (dt.datetime(2026, 11, 28, 0, 10, tzinfo=dt.UTC), "2026-11-28T00:10:00.000Z"),  # as YAML reads it
        ("2026-11-28T01:04:00Z", "2026-11-28T01:04:00.000Z"),  # another clock a little ahead
    ],
)
def test_the_incident_start_is_utc_and_defaults_to_half_an_hour_ago(given, expected):
    assert incident_start(given, NOW) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("at midnight", "must be an ISO 8601 time"),
        ("2026-11-28T02:00:00Z", "is in the future"),
        (5, "got int"),
    ],
)
def test_a_start_that_is_no_time_or_in_the_future_is_a_usage_error(given, message):
    with pytest.raises(UsageError, match=message):
        incident_start(given, NOW)


def test_probes_that_declare_started_at_get_the_investigations_unless_their_hypothesis_sets_one():
    params = resolve(values(started_at="2026-11-28T00:10:00Z"), REGISTRY)
    threshold, errors = params.hypotheses
    assert params.started_at == threshold.params["started_at"] == "2026-11-28T00:10:00.000Z"
    assert "started_at" not in errors.params  # http.error_rate looks at no window
    own = values(started_at="2026-11-28T00:10:00Z")
    own["hypotheses"][0]["params"]["started_at"] = "2026-11-27T23:00:00Z"
    assert resolve(own, REGISTRY).hypotheses[0].params["started_at"] == "2026-11-27T23:00:00.000Z"


def test_the_notebook_gets_the_start_once_so_that_changing_it_there_moves_every_probe():
    params = resolve(values(started_at="2026-11-28T00:10:00Z"), REGISTRY)
    injected = params.notebook_parameters()
    assert injected["started_at"] == "2026-11-28T00:10:00.000Z"
    assert "started_at" not in injected["hypotheses"][0]["params"]
    assert resolve(injected, REGISTRY) == params
    moved = resolve({**injected, "started_at": "2026-11-28T00:20:00Z"}, REGISTRY)
    assert moved.hypotheses[0].params["started_at"] == "2026-11-28T00:20:00.000Z"


def test_a_hypothesis_names_one_of_the_templates_symptoms():
    assert resolve(values(), REGISTRY).hypotheses[0].symptom == "User Impact"
    wrong = values()
    wrong["hypotheses"][0]["symptom"] = "Vibes"
    with pytest.raises(UsageError, match="unknown symptom 'Vibes'"):
        resolve(wrong, REGISTRY)


def test_an_unset_threshold_is_none_and_a_given_one_a_number():
    threshold = REGISTRY.get("prometheus.threshold")
    assert threshold.bind({})["above"] is None and threshold.bind({"above": "0.5"})["above"] == 0.5
    assert threshold.bind({"below": None})["below"] is None


def result(probe, verdict, summary):
    return Result(probe, "h", verdict, summary, "", "t", "2026-11-28T00:40:00.000Z", 1.0, {})


def record(investigation, result):
    """A result for the first hypothesis of its probe not yet tested."""
    index = next(
        i
        for i, h in enumerate(investigation.hypotheses)
        if h.probe == result.probe and investigation.latest(i) is None
    )
    investigation.record(index, result)


def table_of(outputs):
    (start,) = [o for o in outputs if isinstance(o, Markdown)]
    (table,) = [o for o in outputs if isinstance(o, Html)]
    return start.text, table.text


def test_the_symptom_table_shows_symptoms_from_the_results_that_measure_them():
    investigation = Investigation(
        resolve(values(started_at="2026-11-28T00:10:00Z"), REGISTRY), IncidentHistory(), REGISTRY
    )
    ratio = "Above 5% for 10 min from 00:12:00 UTC, peaking at 50%; on {}."
    requests = "0 of 3 requests failed (0%, threshold 5%); latency p50 2 ms."
    record(investigation, result("prometheus.threshold", Verdict.TRUE, ratio))
    record(investigation, result("http.error_rate", Verdict.FALSE, requests))
    start, table = table_of(symptoms(investigation))
    assert start == "**Incident start:** `2026-11-28 00:10:00 UTC`"
    assert table.count("<tr>") == 2  # the header and User Impact: no hypothesis measures the others
    assert "<td>User Impact</td>" in table and "Confirmed" in table
    assert "Above 5% for 10 min from 00:12:00 UTC, peaking at 50% (Hypothesis A)" in table
    assert "0 of 3 requests" not in table  # the hypothesis that says it measures User Impact comes first


def test_without_a_measure_user_impact_is_unknown_and_says_what_would_measure_it():
    only = values()
    only["hypotheses"] = only["hypotheses"][:1]
    del only["hypotheses"][0]["symptom"]
    investigation = Investigation(resolve(only, REGISTRY), IncidentHistory(), REGISTRY)
    record(investigation, result("prometheus.threshold", Verdict.TRUE, "Above 5%."))
    _, table = table_of(symptoms(investigation))
    assert "Unknown" in table and "no hypothesis measures it" in table and "Above 5%" not in table
