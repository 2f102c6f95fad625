"""Which targets and hypotheses an alert opens: a routing file of label matches.

```yaml
severity_map: {sev1: Critical}     # added to alerts.SEVERITY_MAP, overriding it
routes:
  - match: {alertname: CheckoutErrors, service: "~checkout|payments"}
    targets: {postgres: "postgres:host=${labels.instance} dbname=shop"}
    hypotheses: [postgres.lock_contention, {probe: postgres.long_transactions, params: {min_seconds: 60}}]
    alert_expression: true          # also re-test the alert's own PromQL on the prometheus target
default:
  targets: {postgres: shop}
```

Routes are tried in order and the first whose every `match` entry holds wins; else the
`default` route; else none (the investigation has only what the command line gives). A
match value is the label's exact value, or with a leading `~` a regular expression the
whole value must match. Labels matched are the alert's, with `service` and `source`
(alertmanager, grafana, pagerduty) filled in where the alert carries no such label,
so that a PagerDuty incident (which has no labels) routes by its service.

`${labels.NAME}` and `${alert.FIELD}` (service, name, severity, source, group_key,
expression) in a target or a hypothesis parameter are replaced by the alert's values;
a reference the alert has no value for is an error naming it, since a probe aimed at
half a reference would test the wrong thing.

`alert_expression: true` adds, when the alert carries a PromQL expression and the route's
targets include one of a kind that declares an `alert_hypothesis` (the `prometheus`
kind), that kind's probe with the expression as its parameter.

An invalid file raises `RoutingError` naming the file, the field and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident_lab.exceptions import UsageError
from incident_lab.investigation.alerts import Alert, AlertError
from incident_lab.investigation.params import SEVERITIES, choose
from incident_lab.kinds import target_spec
from incident_lab.registry import Registry
from incident_lab.yaml_files import parse_yaml, read_limited

MAX_ROUTING_FILE_BYTES = 1024 * 1024
REFERENCE = re.compile(r"\$\{(labels|alert)\.([A-Za-z_][A-Za-z0-9_]*)\}")
ALERT_FIELDS = ("service", "name", "severity", "source", "group_key", "expression")
ROUTE_KEYS = {"match", "targets", "hypotheses", "alert_expression"}


class RoutingError(UsageError):
    """A routing file that cannot be used: its message names the file, the field and the reason."""


@dataclass(frozen=True)
class Matcher:
    label: str
    exact: str = ""
    pattern: re.Pattern[str] | None = None

    def holds(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.label)
        if value is None:
            return False
        return bool(self.pattern.fullmatch(value)) if self.pattern else value == self.exact


@dataclass(frozen=True)
class Route:
    name: str  # where it is in the file, e.g. routes[0], for messages
    matchers: tuple[Matcher, ...] = ()
    targets: dict[str, Any] = field(default_factory=dict)
    hypotheses: tuple[Any, ...] = ()
    alert_expression: bool = False

    def matches(self, alert: Alert) -> bool:
        labels = {"service": alert.service, "source": alert.source, **alert.labels}
        return all(matcher.holds(labels) for matcher in self.matchers)

    def values(self, alert: Alert, registry: Registry) -> dict[str, Any]:
        """The route's targets and hypotheses for this alert, references replaced."""
        targets = {
            name: substitute(value, alert, f"{self.name}.targets.{name}")
            for name, value in self.targets.items()
        }
        hypotheses = [substitute(item, alert, f"{self.name}.hypotheses") for item in self.hypotheses]
        if self.alert_expression and alert.expression:
            hypotheses += expression_hypotheses(targets, alert, registry)
        values: dict[str, Any] = {}
        if targets:
            values["targets"] = targets
        if hypotheses:
            values["hypotheses"] = hypotheses
        return values


@dataclass(frozen=True)
class Routing:
    routes: tuple[Route, ...] = ()
    default: Route | None = None
    severity_map: dict[str, str] = field(default_factory=dict)

    def route_for(self, alert: Alert) -> Route | None:
        return next((route for route in self.routes if route.matches(alert)), self.default)

    def check(self, registry: Registry, path: str) -> None:
        """Every probe a route names exists: a typo shows when the file is loaded, not at 3 a.m."""
        for route in (*self.routes, *([self.default] if self.default else [])):
            for number, item in enumerate(route.hypotheses):
                probe = item.partition(":")[0].strip() if isinstance(item, str) else item["probe"]
                if probe not in registry:
                    raise RoutingError(
                        f"routing file {path}: {route.name}.hypotheses[{number}]: unknown probe {probe!r}"
                    )


def expression_hypotheses(
    targets: Mapping[str, Any], alert: Alert, registry: Registry
) -> list[dict[str, Any]]:
    """The alert's own expression, re-tested on each target whose kind offers a probe for it."""
    added = []
    for name, value in targets.items():
        if not isinstance(value, str):
            continue
        spec = target_spec(name, value, registry.kind_names)
        declared = registry.kind(spec.kind).alert_hypothesis if spec.kind else None
        if declared is not None and declared.probe in registry:
            added.append(
                {"probe": declared.probe, "target": name, "params": {declared.param: alert.expression}}
            )
    return added


def substitute(value: Any, alert: Alert, where: str) -> Any:
    """`value` with `${labels.NAME}` and `${alert.FIELD}` replaced, in strings nested anywhere."""
    if isinstance(value, str):
        return REFERENCE.sub(lambda found: reference_value(found, alert, where), value)
    if isinstance(value, Mapping):
        return {key: substitute(item, alert, where) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(item, alert, where) for item in value]
    return value


def reference_value(found: re.Match[str], alert: Alert, where: str) -> str:
    scope, name = found.groups()
    value = alert.labels.get(name) if scope == "labels" else str(getattr(alert, name, "") or "")
    if not value:
        raise AlertError(f"{where} refers to {found.group(0)}, which this alert has no value for")
    return value


def load_routing(path: str | Path) -> Routing:
    text = read_limited(path, MAX_ROUTING_FILE_BYTES, "routing file", RoutingError)
    loaded = parse_yaml(text, f"routing file {path}", RoutingError)
    return read_routing(loaded, str(path))


def read_routing(document: Any, path: str) -> Routing:
    def fail(where: str, reason: str) -> RoutingError:
        return RoutingError(f"routing file {path}: {where}: {reason}")

    if not isinstance(document, Mapping):
        raise fail("the file", "must be a mapping with routes, default and severity_map")
    unknown = set(document) - {"routes", "default", "severity_map"}
    if unknown:
        raise fail(", ".join(sorted(map(str, unknown))), "unknown key (known: routes, default, severity_map)")
    given_map = document.get("severity_map") or {}
    if not isinstance(given_map, Mapping):
        raise fail("severity_map", "must map alert severities or priorities to a severity")
    severity_map = {}
    for key, value in given_map.items():
        try:
            severity_map[str(key)] = choose(value, SEVERITIES, "severity")
        except UsageError as error:
            raise fail(f"severity_map.{key}", str(error)) from None
    routes = document.get("routes")
    routes = [] if routes is None else routes
    if not isinstance(routes, list):
        raise fail("routes", "must be a list of routes")
    read = tuple(read_route(item, f"routes[{number}]", fail) for number, item in enumerate(routes))
    for route in read:
        if not route.matchers:
            raise fail(f"{route.name}.match", "a route needs at least one label to match (or use default)")
    default = document.get("default")
    chosen = read_route(default, "default", fail) if default is not None else None
    if chosen is not None and chosen.matchers:
        raise fail("default.match", "the default route matches every alert: it takes no match")
    return Routing(read, chosen, severity_map)


def read_route(item: Any, where: str, fail: Any) -> Route:
    if not isinstance(item, Mapping):
        raise fail(where, "must be a mapping")
    unknown = set(item) - ROUTE_KEYS
    if unknown:
        raise fail(
            f"{where}.{sorted(map(str, unknown))[0]}", f"unknown key (known: {', '.join(sorted(ROUTE_KEYS))})"
        )
    match = item.get("match") or {}
    if not isinstance(match, Mapping):
        raise fail(f"{where}.match", "must map label names to values")
    matchers = []
    for label, value in match.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise fail(f"{where}.match.{label}", "must be a label value, or ~ and a regular expression")
        text = str(value)
        if text.startswith("~"):
            try:
                matchers.append(Matcher(str(label), pattern=re.compile(text[1:])))
            except re.error as error:
                raise fail(f"{where}.match.{label}", f"invalid regular expression: {error}") from None
        else:
            matchers.append(Matcher(str(label), exact=text))
    targets = item.get("targets") or {}
    if not isinstance(targets, Mapping) or not all(isinstance(v, str | list) for v in targets.values()):
        raise fail(f"{where}.targets", "must map target names to references (or lists of references)")
    hypotheses = item.get("hypotheses") or []
    if not isinstance(hypotheses, list) or not all(isinstance(h, str | Mapping) for h in hypotheses):
        raise fail(f"{where}.hypotheses", "must be a list of probe ids or {probe, params, target} mappings")
    for number, hypothesis in enumerate(hypotheses):
        if isinstance(hypothesis, Mapping) and not isinstance(hypothesis.get("probe"), str):
            raise fail(f"{where}.hypotheses[{number}].probe", "is missing")
    alert_expression = item.get("alert_expression", False)
    if not isinstance(alert_expression, bool):
        raise fail(f"{where}.alert_expression", "must be true or false")
    for text in references_in([targets, hypotheses]):
        if text.group(1) == "alert" and text.group(2) not in ALERT_FIELDS:
            raise fail(where, f"{text.group(0)} is not one of alert.{', alert.'.join(ALERT_FIELDS)}")
    return Route(
        where, tuple(matchers), {str(k): v for k, v in targets.items()}, tuple(hypotheses), alert_expression
    )


def references_in(value: Any) -> list[re.Match[str]]:
    if isinstance(value, str):
        return list(REFERENCE.finditer(value))
    if isinstance(value, Mapping):
        return [found for item in value.values() for found in references_in(item)]
    if isinstance(value, Sequence):
        return [found for item in value for found in references_in(item)]
    return []
