"""Routing files: label matches to targets and hypotheses, references, the alert's own expression."""

import copy
import textwrap

import pytest

from incident_lab.investigation.alerts import AlertError, parse_alert
from incident_lab.investigation.routing import RoutingError, load_routing, read_routing
from incident_lab.runner import default_registry
from incident_lab.testing.alert_samples import ALERTMANAGER, PAGERDUTY

ROUTES = """
severity_map: {critical: High}
routes:
  - match: {alertname: CheckoutErrors, service: "~check.*"}
    targets:
      postgres: "postgres:host=${labels.instance} dbname=shop"
      prometheus: "http://127.0.0.1:9090"
    hypotheses:
      - postgres.lock_contention
      - {probe: postgres.long_transactions, params: {max_transaction_seconds: 60}}
    alert_expression: true
  - match: {service: checkout}
    targets: {postgres: "postgres:service=${alert.service}"}
default:
  targets: {postgres: shop}
"""


@pytest.fixture
def routes_file(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return path


def test_first_matching_route_wins_with_references_and_the_alert_expression(routes_file):
    routing = load_routing(routes_file)
    routing.check(default_registry(), str(routes_file))
    alert = parse_alert(ALERTMANAGER, severity_map=routing.severity_map)
    assert alert.severity == "High"  # the file's map overrides critical → Critical
    route = routing.route_for(alert)
    assert route.name == "routes[0]"
    values = route.values(alert, default_registry())
    assert values["targets"]["postgres"] == "postgres:host=db1:5432 dbname=shop"
    assert values["hypotheses"][:2] == [
        "postgres.lock_contention",
        {"probe": "postgres.long_transactions", "params": {"max_transaction_seconds": 60}},
    ]
    assert values["hypotheses"][2] == {
        "probe": "prometheus.alert_expression",
        "target": "prometheus",
        "params": {"expression": "rate(errors_total[5m]) > 0.05"},
    }


def test_a_regex_must_match_the_whole_value_and_pagerduty_routes_by_service(routes_file):
    routing = load_routing(routes_file)
    other = copy.deepcopy(ALERTMANAGER)
    other["commonLabels"]["service"] = "precheckout"
    assert routing.route_for(parse_alert(other)).name == "default"
    paged = parse_alert(PAGERDUTY)
    route = routing.route_for(paged)
    assert route.name == "routes[1]"
    assert route.values(paged, default_registry()) == {"targets": {"postgres": "postgres:service=checkout"}}


def test_no_expression_or_no_prometheus_target_adds_no_expression_hypothesis(routes_file):
    routing = load_routing(routes_file)
    without = copy.deepcopy(ALERTMANAGER)
    for item in without["alerts"]:
        item["generatorURL"] = ""
    values = routing.route_for(parse_alert(without)).values(parse_alert(without), default_registry())
    assert [h if isinstance(h, str) else h["probe"] for h in values["hypotheses"]] == [
        "postgres.lock_contention",
        "postgres.long_transactions",
    ]


def test_a_reference_the_alert_cannot_fill_is_an_error(routes_file):
    alert = parse_alert(ALERTMANAGER)
    unlabelled = copy.deepcopy(ALERTMANAGER)
    for item in unlabelled["alerts"]:
        del item["labels"]["instance"]
    alert = parse_alert(unlabelled)
    with pytest.raises(AlertError, match=r"routes\[0\].targets.postgres refers to \$\{labels.instance\}"):
        load_routing(routes_file).route_for(alert).values(alert, default_registry())


def test_without_a_default_an_unmatched_alert_has_no_route():
    routing = read_routing({"routes": [{"match": {"alertname": "Other"}}]}, "r.yaml")
    assert routing.route_for(parse_alert(ALERTMANAGER)) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "the file: must be a mapping"),
        ("routes: {}\n", "routes: must be a list"),
        ("rotues: []\n", "rotues: unknown key"),
        ("routes:\n  - targets: {postgres: shop}\n", "routes[0].match: a route needs at least one label"),
        ("routes:\n  - match: {service: '~(('}\n", "routes[0].match.service: invalid regular expression"),
        ("routes:\n  - match: {service: [a]}\n", "routes[0].match.service: must be a label value"),
        ("routes:\n  - match: {a: b}\n    targts: {}\n", "routes[0].targts: unknown key"),
        ("default: {targets: [a]}\n", "default.targets: must map target names"),
        ("default: {hypotheses: [{params: {}}]}\n", "default.hypotheses[0].probe: is missing"),
        ("default: {alert_expression: 'yes'}\n", "default.alert_expression: must be true or false"),
        ("default: {match: {a: b}}\n", "default.match: the default route matches every alert"),
        ("severity_map: {sev1: Urgent}\n", "severity_map.sev1: unknown severity"),
        ("default: {targets: {p: '${alert.password}'}}\n", "default: ${alert.password} is not one of"),
        ("routes: [\n", "not valid YAML"),
    ],
)
def test_invalid_files_name_the_file_field_and_reason(tmp_path, text, message):
    path = tmp_path / "routes.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(RoutingError) as raised:
        load_routing(path)
    assert str(raised.value).startswith(f"routing file {path}: ")
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_unknown_probes_are_found_when_the_file_is_loaded(tmp_path):
    routing = read_routing({"default": {"hypotheses": ["postgres.lock_contentoin"]}}, "r.yaml")
    with pytest.raises(
        RoutingError, match=r"default.hypotheses\[0\]: unknown probe 'postgres.lock_contentoin'"
    ):
        routing.check(default_registry(), "r.yaml")
    with pytest.raises(RoutingError, match="cannot read routing file"):
        load_routing(tmp_path / "missing.yaml")
