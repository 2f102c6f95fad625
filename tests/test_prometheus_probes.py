"""prometheus.threshold and prometheus.alert_expression against a real Prometheus (Debian's
package) holding a known incident's metrics, loaded by promtool (see `incident_metrics`
in conftest.py): each case, its verdict and its evidence."""

import base64
import json
import time

import pytest
from conftest import pattern_standing

from incident_lab import Result, run
from incident_lab.kinds.prometheus.window import iso, parse_instant
from incident_lab.verdict import Verdict

CHECKOUT = 'http_requests_error_ratio{service="checkout"}'
ERROR_RATIO = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))'
# A password and its bcrypt hash, as Prometheus's web configuration takes one.
PASSWORD = "canary-basic-pw-3141"
PASSWORD_HASH = "$2b$12$bgI5u6q0cMKWFjKk.WeQfuOV62MMIXCPA5oGEHA9jq5iP8M0DZBbK"


def threshold(url, query, **params) -> Result:
    return run("prometheus.threshold", url, {"query": query, **params})


def window_of(result):
    return result.table("window").records()[0]


def test_a_spike_is_a_breach_that_starts_within_one_step_of_when_it_started(incident_metrics):
    result = threshold(incident_metrics.url, CHECKOUT, above=0.1, started_at=iso(incident_metrics.spike_at))
    assert result.verdict is Verdict.TRUE, result.summary
    (worst,) = result.table("series").records()
    step = window_of(result)["step_seconds"]
    assert 0 <= parse_instant(worst["held_from"]) - incident_metrics.spike_at <= step
    assert worst["peak"] == 0.5 and worst["series"] == CHECKOUT
    assert result.metric("peak") == 0.5 and result.metric("series") == 1
    assert result.metric("breach_seconds") >= 600 - 2 * step
    assert result.summary.startswith("Above 0.1 for 10 min from ")
    assert f"PromQL: {CHECKOUT}" in result.test and "every 5 s" in result.test
    assert Result.from_json(result.to_json()) == result
    assert pattern_standing(result)["prometheus.metric-threshold-breached"] == "matched"


def test_a_healthy_series_refutes_the_breach(incident_metrics):
    result = threshold(incident_metrics.url, 'http_requests_error_ratio{service="catalog"}', above=0.1)
    assert result.verdict is Verdict.FALSE, result.summary
    assert "Never above 0.1" in result.summary and result.metric("breach_seconds") == 0.0
    assert pattern_standing(result)["prometheus.metric-threshold-breached"] == "ruled out"


def test_a_breach_shorter_than_for_seconds_does_not_count(incident_metrics):
    result = threshold(incident_metrics.url, CHECKOUT, above=0.1, for_seconds=900)
    assert result.verdict is Verdict.FALSE, result.summary
    assert "too briefly" in result.summary


def test_below_a_threshold(incident_metrics):
    catalog = 'http_requests_error_ratio{service="catalog"}'
    assert threshold(incident_metrics.url, catalog, below=0.02).verdict is Verdict.TRUE
    assert threshold(incident_metrics.url, catalog, below=0.005).verdict is Verdict.FALSE


def test_no_series_is_inconclusive_never_false(incident_metrics):
    result = threshold(incident_metrics.url, 'http_requests_error_ratio{service="nope"}', above=0.1)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no data is not the absence of a breach" in result.summary


def test_a_series_that_stopped_reporting_is_stale(incident_metrics):
    result = threshold(incident_metrics.url, 'http_requests_error_ratio{service="payments"}', above=0.1)
    assert result.verdict is Verdict.INCONCLUSIVE, result.summary
    assert result.summary.startswith("Stale data: 1 of 1 series stopped reporting")
    newest = parse_instant(result.table("series").records()[0]["newest_at"])
    assert incident_metrics.stopped_at <= newest <= incident_metrics.stopped_at + 60  # the lookback delta


def test_nan_samples_leave_a_gap_that_cannot_refute_and_outside_it_they_do_not_matter(incident_metrics):
    search = 'http_requests_error_ratio{service="search"}'
    across = threshold(incident_metrics.url, search, above=0.1)
    assert across.verdict is Verdict.INCONCLUSIVE and across.summary.startswith("Gaps in 1 of 1 series")
    assert across.table("series").records()[0]["nan_samples"] > 0
    after = threshold(
        incident_metrics.url, search, above=0.1, started_at=iso(time.time() - 300), lookback_seconds=600
    )
    assert after.verdict is Verdict.FALSE, after.summary


def test_infinity_is_a_breach_and_never_reaches_the_json_as_a_number(incident_metrics):
    result = threshold(incident_metrics.url, 'request_duration_seconds{service="search"}', above=2, unit="s")
    assert result.verdict is Verdict.TRUE and "peaking at +Inf" in result.summary
    assert result.table("series").records()[0]["peak"] == "+Inf" and result.metric("peak") is None
    json.loads(result.to_json(), parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def test_the_error_ratio_shows_user_impact_as_a_percentage(incident_metrics):
    result = threshold(
        incident_metrics.url, ERROR_RATIO, above=0.1, unit="ratio", started_at=iso(incident_metrics.spike_at)
    )
    assert result.verdict is Verdict.TRUE, result.summary
    assert result.summary.startswith("Above 10% for ") and "peaking at 50%" in result.summary


@pytest.mark.parametrize(
    ("query", "quoted"),
    [
        (
            "sum(rate(http_requests_total[1m])",
            "Prometheus answered bad_data: 1:34: parse error: unclosed left",
        ),
        ("http_requests_total + on(service) http_requests_error_ratio", "Prometheus answered execution: "),
    ],
)
def test_prometheus_errors_are_inconclusive_and_quoted(incident_metrics, query, quoted):
    result = threshold(incident_metrics.url, query, above=0.1)
    assert result.verdict is Verdict.INCONCLUSIVE and result.summary.startswith(quoted), result.summary


def test_a_step_finer_than_prometheus_allows_is_refused_before_asking(incident_metrics):
    result = threshold(incident_metrics.url, CHECKOUT, above=0.1, step_seconds=1, lookback_seconds=12000)
    assert result.verdict is Verdict.INCONCLUSIVE and "more than Prometheus's 11,000" in result.summary
    assert result.test == ""  # nothing was sent


def test_a_stopped_server_is_inconclusive_at_once_and_a_frozen_one_within_the_budget(incident_metrics):
    incident_metrics.server.pause()
    started = time.monotonic()
    frozen = threshold(incident_metrics.url, CHECKOUT, above=0.1, timeout_seconds=1, budget_seconds=3)
    assert time.monotonic() - started < 3
    assert frozen.verdict is Verdict.INCONCLUSIVE and "no answer from Prometheus (timeout" in frozen.summary
    incident_metrics.server.stop()
    started = time.monotonic()
    stopped = threshold(incident_metrics.url, CHECKOUT, above=0.1)
    assert time.monotonic() - started < 2
    assert stopped.verdict is Verdict.INCONCLUSIVE and "connection refused" in stopped.summary


def test_warnings_make_a_verdict_inconclusive_and_are_quoted(prometheus_server, free_port):
    from conftest import incident_history

    history, *_ = incident_history(time.time())
    prom = prometheus_server(history=history, remote_read=f"http://127.0.0.1:{free_port}/api/v1/read")
    result = threshold(prom.url, CHECKOUT, above=0.1)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.summary.startswith("Prometheus warned that its answer may be partial: remote_read: ")
    assert result.table("series").records()  # what it did see is still evidence


def test_basic_auth_from_the_environment(prometheus_server, monkeypatch):
    from conftest import incident_history

    history, *_ = incident_history(time.time())
    web = f"basic_auth_users:\n  oncall: {PASSWORD_HASH}\n"
    pair = base64.b64encode(f"oncall:{PASSWORD}".encode()).decode()
    prom = prometheus_server(
        history=history, web_config=web, ready_headers={"Authorization": f"Basic {pair}"}
    )
    monkeypatch.setenv("PROM_TEST_PASSWORD", PASSWORD)
    good = threshold(f"{prom.url} user=oncall password=env:PROM_TEST_PASSWORD", CHECKOUT, above=0.1)
    assert good.verdict is Verdict.TRUE, good.summary
    monkeypatch.setenv("PROM_TEST_PASSWORD", "not-the-password")
    refused = threshold(f"{prom.url} user=oncall password=env:PROM_TEST_PASSWORD", CHECKOUT, above=0.1)
    assert refused.verdict is Verdict.INCONCLUSIVE
    assert refused.summary.startswith("Prometheus refused the credentials (HTTP 401")
    assert PASSWORD not in good.to_json() + refused.to_json() + repr(good)


def test_an_alerts_generator_url_is_re_run_over_the_window(incident_metrics):
    expression = "http_requests_error_ratio%7Bservice%3D%22checkout%22%7D+%3E+0.1"
    url = f"{incident_metrics.url}/graph?g0.expr={expression}&g0.tab=1"
    result = run("prometheus.alert_expression", incident_metrics.url, {"generator_url": url})
    assert result.verdict is Verdict.TRUE, result.summary
    step = window_of(result)["step_seconds"]
    held_from = parse_instant(result.table("series").records()[0]["held_from"])
    assert 0 <= held_from - incident_metrics.spike_at <= step
    assert "and still holds" in result.summary
    assert window_of(result)["threshold"] == 0.1  # the chart draws the alert's own number
    assert result.metric("still_holding") == 1
    assert pattern_standing(result)["prometheus.alert-still-firing"] == "matched"


def test_an_alert_that_fired_and_cleared_is_not_still_firing(incident_metrics):
    expression = 'request_duration_seconds{quantile="0.99",service="search"} > 1'
    result = run("prometheus.alert_expression", incident_metrics.url, {"expression": expression})
    assert result.verdict is Verdict.TRUE and "no longer holds" in result.summary, result.summary
    assert result.metric("still_holding") == 0
    assert pattern_standing(result)["prometheus.alert-still-firing"] == "ruled out"


@pytest.mark.parametrize(
    ("params", "verdict", "said"),
    [
        ({"expression": 'http_requests_error_ratio{service="catalog"} > 0.1'}, Verdict.FALSE, "Never held"),
        ({"expression": f"{CHECKOUT} > 0.1", "for_seconds": 900}, Verdict.FALSE, "Never held for 15 min"),
        ({"expression": f"{CHECKOUT} > 0.1", "for_seconds": 300}, Verdict.TRUE, "(firing from "),
        ({"expression": f"absent({CHECKOUT})"}, Verdict.INCONCLUSIVE, "not firing, or no data"),
        ({"expression": "absent(up{job='nope'})"}, Verdict.TRUE, "returned a sample"),
        ({"expression": "up{job='nope'} > 0.1"}, Verdict.INCONCLUSIVE, "no data is not"),
        ({"generator_url": "http://prom/graph?g0.tab=1"}, Verdict.INCONCLUSIVE, "no g0.expr"),
    ],
)  # fmt: skip
def test_alert_expressions_that_do_not_fire_or_cannot_say(incident_metrics, params, verdict, said):
    result = run("prometheus.alert_expression", incident_metrics.url, params)
    assert result.verdict is verdict and said in result.summary, result.summary
