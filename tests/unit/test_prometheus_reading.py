"""The Prometheus kind's pure logic: the window and its step, series read against a
threshold (runs, peaks, NaN and ±Inf, gaps, staleness), the evidence and the chart a
result carries, an alert's expression and its data side, and target references."""

import math

import pytest

from incident_lab import Result, TargetError, Verdict, run
from incident_lab.charts import TimeSeriesChart
from incident_lab.kinds.http.session import Response
from incident_lab.kinds.prometheus import KIND
from incident_lab.kinds.prometheus.evidence import Threshold, WindowReading, say, tables
from incident_lab.kinds.prometheus.promql import expression_of, top_level_comparison
from incident_lab.kinds.prometheus.series import Series, grid, parse_matrix, read, summarise
from incident_lab.kinds.prometheus.session import PrometheusTarget, read_answer
from incident_lab.kinds.prometheus.window import (
    MAX_POINTS,
    Window,
    WindowError,
    choose_step,
    iso,
    parse_instant,
)

NOW = parse_instant("2026-11-28T01:00:00Z")
START = parse_instant("2026-11-28T00:00:00Z")


def series(values, start=START, step=60.0, **labels):
    return Series(labels, tuple(start + i * step for i in range(len(values))), tuple(map(float, values)))


def test_the_window_runs_from_lookback_before_the_start_until_now_on_a_round_step():
    window = Window.around("2026-11-28T00:30:00Z", 1800, None, NOW)
    assert (iso(window.start), window.end, window.step) == ("2026-11-28T00:00:00.000Z", NOW, 5.0)
    assert window.steps == 721 and window.last == NOW
    assert iso(Window.around("", 1800, None, NOW).started_at) == "2026-11-28T00:30:00.000Z"
    assert Window.around("2026-11-28T00:30:00", 1800, 60, NOW).started_at == START + 1800  # no offset: UTC
    assert Window.around("2026-11-28T01:04:00Z", 1800, 60, NOW).end == NOW  # another clock a little ahead


@pytest.mark.parametrize(
    ("started_at", "step", "message"),
    [
        ("2026-11-28T01:06:00Z", None, "is in the future"),
        ("yesterday", None, "not an ISO 8601 time"),
        ("2026-11-27T00:00:00Z", 1.0, "more than Prometheus's 11,000; use at least 9"),
    ],
)
def test_a_window_prometheus_would_refuse_is_refused_first(started_at, step, message):
    with pytest.raises(WindowError, match=message):
        Window.around(started_at, 1800, step, NOW)


def test_the_chosen_step_stays_within_prometheus_limit_for_any_span():
    for span in (60, 3600, 86400, 30 * 86400, 400 * 86400):
        step = choose_step(span)
        assert step >= 1 and span / step <= MAX_POINTS


def test_runs_of_consecutive_breaches_with_their_peak_and_length():
    reading = read(series([0.01, 0.2, 0.5, 0.3, 0.01, 0.4]), Threshold(0.1, 1).holds, 60)
    assert [(r.start - START, r.seconds, r.steps, r.peak) for r in reading.runs] == [
        (60, 120, 3, 0.5),
        (300, 0, 1, 0.4),
    ]
    assert (reading.peak, reading.peak_at - START) == (0.5, 120)
    assert reading.held_for(120) and not reading.held_for(121)


def test_below_a_threshold_the_lowest_value_is_the_worst():
    reading = read(series([5, 0.5, 0.2, 5]), Threshold(1, -1).holds, 60, worse=-1)
    assert (reading.peak, len(reading.runs), reading.runs[0].steps) == (0.2, 1, 2)


def test_nan_is_neither_a_breach_nor_a_reading_and_leaves_a_gap():
    reading = read(series([0.01, math.nan, math.nan, 0.01]), Threshold(0.1, 1).holds, 60)
    assert reading.runs == () and reading.nan_samples == 2 and reading.peak == 0.01
    assert [(a - START, b - START) for a, b in reading.gaps] == [(60, 120)]
    only_nan = read(series([math.nan] * 3), Threshold(0.1, 1).holds, 60)
    assert only_nan.peak is None and only_nan.newest_at is None


def test_infinity_is_a_reading_and_a_breach_written_as_prometheus_writes_it():
    reading = read(series([0.2, math.inf, 0.2]), Threshold(2, 1).holds, 60)
    assert reading.peak == math.inf and len(reading.runs) == 1
    assert say(math.inf) == "+Inf" and say(-math.inf) == "-Inf" and say(0.5, "ratio") == "50%"


def test_a_missing_instant_breaks_a_run_and_is_a_gap():
    broken = Series({}, (START, START + 60, START + 180), (0.5, 0.5, 0.5))
    reading = read(broken, Threshold(0.1, 1).holds, 60)
    assert [r.steps for r in reading.runs] == [2, 1]
    assert reading.gaps == ((START + 120, START + 120),)


def test_prometheus_answers_are_read_with_their_special_values():
    data = {
        "resultType": "matrix",
        "result": [
            {"metric": {"__name__": "up", "job": "x"}, "values": [[START, "NaN"], [START + 15, "+Inf"]]}
        ],
    }
    (parsed,) = parse_matrix(data)
    assert parsed.name == 'up{job="x"}' and math.isnan(parsed.values[0]) and parsed.values[1] == math.inf
    assert Series({}, (), ()).name == "{}"
    assert Series({}, (), ()).spoken == "the query's one series (no labels)"
    assert parsed.spoken == parsed.name
    with pytest.raises(ValueError, match="expected a matrix"):
        parse_matrix({"resultType": "vector", "result": []})


def test_grid_and_band_put_every_series_on_the_window_instants():
    window = Window(START, START + 240, 60, START)
    assert grid(series([1, 2], start=START + 60), window.start, 60, window.steps) == [None, 1, 2, None, None]
    holed = Series({}, (START, START + 180), (1.0, math.nan))
    assert grid(holed, window.start, 60, window.steps) == [1.0, None, None, None, None]
    low, middle, high = summarise([[1, None, 3], [2, None, 1], [3, None, 2]])
    assert (low, middle, high) == ([1, None, 1], [2, None, 2], [3, None, 3])


def test_evidence_and_chart_from_a_window_of_many_series():
    window = Window(START, START + 600, 60, START + 300)
    many = [series([0.01 * (i % 7)] * 11, name=f"pod-{i}") for i in range(12)]
    many.append(series([0.01] * 5 + [0.5] * 6, name="checkout"))
    reading = WindowReading.of(many, Threshold(0.1, 1, "ratio").holds, window, 1, "ratio")
    evidence = tables(reading, query="ratio", condition="above 10%", threshold=0.1, for_seconds=0)
    assert [t.name for t in evidence] == ["window", "series", "breaches", "chart_series"]
    assert evidence[1].records()[0]["series"] == '{name="checkout"}'
    assert evidence[2].records() == [
        {
            "series": '{name="checkout"}',
            "start": iso(START + 300),
            "end": iso(START + 600),
            "seconds": 300.0,
            "steps": 6,
            "peak": 0.5,
        }
    ]
    shown = [(row["series"], row["shown_as"]) for row in evidence[3].records()]
    assert shown[0] == ('{name="checkout"}', "line") and len(shown) == 5 + 3
    assert shown[-1] == ("8 other series", "high")
    result = Result(
        "prometheus.threshold", "h", Verdict.TRUE, "s", "t", "prom", iso(NOW), 1.0, {"unit": "ratio"},
        tuple(evidence), kind="prometheus",
    )  # fmt: skip
    chart = KIND.chart(Result.from_json(result.to_json()))
    assert isinstance(chart, TimeSeriesChart) and chart.percent and chart.threshold == 0.1
    assert chart.marker == START + 300 and chart.shaded == ((START + 300, START + 600),)
    assert chart.lines[0].values[-1] == 0.5 and chart.rest is not None and len(chart.rest.times) == 11


def test_infinity_never_reaches_the_json():
    window = Window(START, START + 120, 60, START)
    reading = WindowReading.of([series([0.2, math.inf, 0.2])], Threshold(2, 1).holds, window)
    evidence = tables(reading, query="q", condition="above 2", threshold=2, for_seconds=0)
    assert evidence[1].records()[0]["peak"] == "+Inf" and reading.metrics()["peak"] == (None, "")
    assert (
        "Infinity" not in Result("p", "h", Verdict.TRUE, "s", "t", "x", "", 0, {}, tuple(evidence)).to_json()
    )


@pytest.mark.parametrize(
    ("expression", "data", "threshold", "worse"),
    [
        ('rate(errors{path=~"/a>b"}[5m]) > 0.05', 'rate(errors{path=~"/a>b"}[5m])', 0.05, 1),
        ("sum(rate(e[5m])) / sum(rate(r[5m])) > 0.1 # > 2", "sum(rate(e[5m])) / sum(rate(r[5m]))", 0.1, 1),
        ("up == 0", "up", 0.0, 0),
        ("avg(x) <= bool 2", "avg(x)", 2.0, -1),
        ("count(x > 1) >= 3", "count(x > 1)", 3.0, 1),
        ("a > b", "a", None, 1),
    ],
)  # fmt: skip
def test_the_data_side_of_an_alert_is_its_single_top_level_comparison(expression, data, threshold, worse):
    found = top_level_comparison(expression)
    assert found is not None and (found.data, found.threshold, found.worse) == (data, threshold, worse)


@pytest.mark.parametrize("expression", ["up", "a > 1 and b > 2", "a > 1 < 5", 'x{le=">"}', "absent(up)"])
def test_expressions_without_one_plain_comparison_have_no_data_side(expression):
    assert top_level_comparison(expression) is None


def test_a_generator_url_gives_the_alerts_expression():
    url = "http://prom:9090/graph?g0.expr=http_requests_error_ratio%7Bservice%3D%22checkout%22%7D+%3E+0.1&g0.tab=1"
    assert expression_of(url) == 'http_requests_error_ratio{service="checkout"} > 0.1'
    with pytest.raises(ValueError, match=r"no g0\.expr"):
        expression_of("http://prom:9090/graph?g0.tab=1")


def test_references_name_the_variables_that_hold_credentials_never_the_credentials(monkeypatch):
    monkeypatch.setenv("UNIT_PROM_TOKEN", "tok-unit-4242")
    target = PrometheusTarget.parse("https://prom.example/api/v1/ token=env:UNIT_PROM_TOKEN")
    assert target.url == target.label == "https://prom.example"
    assert "tok-unit-4242" not in repr(target)
    for bad, message in [
        ("https://prom.example token=tok-literal-99", "token must come from the environment"),
        ("https://prom.example user=me", "needs both user= and password="),
        ("https://prom.example token=env:UNIT_PROM_TOKEN user=a password=env:X", "either token="),
        ("https://prom.example timeout=3", "unknown Prometheus option 'timeout'"),
        ("https://prom.example token=env:UNIT_UNSET_VARIABLE", "UNIT_UNSET_VARIABLE is not set"),
        ("https://me:pw-in-url-77@prom.example", "must not carry credentials"),
        ("https://prom.example/?x=1", "no query or fragment"),
    ]:
        with pytest.raises(TargetError, match=message) as refused:
            PrometheusTarget.parse(bad)
        assert "tok-literal-99" not in str(refused.value) and "pw-in-url-77" not in str(refused.value)


def test_api_errors_and_warnings_are_quoted():
    import json

    error = {"status": "error", "errorType": "bad_data", "error": "parse error: unclosed left parenthesis"}
    answer = read_answer(Response("GET", "u", 400, body=json.dumps(error).encode()))
    assert answer.problem == "Prometheus answered bad_data: parse error: unclosed left parenthesis (HTTP 400)"
    body = json.dumps({"status": "success", "data": {"x": 1}, "warnings": ["w"]}).encode()
    assert read_answer(Response("GET", "u", 200, body=body)).warnings == ("w",)
    refused = read_answer(Response("GET", "u", 401, body=b"Unauthorized\n"))
    assert refused.problem == "Prometheus refused the credentials (HTTP 401: Unauthorized)"
    gone = read_answer(Response("GET", "u", None, failure="connection_error", detail="connection refused"))
    assert gone.problem == "no answer from Prometheus (connection_error: connection refused)"


@pytest.mark.parametrize(
    "params",
    [{"query": "up"}, {"query": "up", "above": 1, "below": 0}, {"above": 1}],
    ids=["no threshold", "two thresholds", "no query"],
)
def test_a_threshold_probe_without_one_query_and_one_threshold_asks_for_them(params):
    result = run("prometheus.threshold", "http://127.0.0.1:1", params)  # nothing is sent
    assert result.verdict is Verdict.INCONCLUSIVE and result.summary.startswith(
        "Nothing to test: give the PromQL"
    )
    assert result.test == ""
