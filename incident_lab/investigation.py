"""An investigation's parameters: what the incident is, which hypotheses to test, where.

The same parameters drive the template notebook, `incident-lab run`, `new` and
`watch`. They are checked here, before any notebook runs, so that a user's mistake
is one clear error and nothing is archived. Targets are references (service names,
`env:NAME`, URIs without a password); a password given on the command line is moved
out of the parameters into the kernel's environment (see `targets.SECRETS_VARIABLE`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from incident_lab.exceptions import TargetError, UsageError
from incident_lab.registry import Registry

SEVERITIES = ("Critical", "High", "Medium", "Low")
STATUSES = ("Investigating", "Identified", "Monitoring", "Resolved")

# The hypotheses worth testing first when a target of each kind is named and the
# user chose none: the template's own, then their usual neighbours.
DEFAULT_HYPOTHESES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "postgres": [
        ("postgres.lock_contention", {}),
        ("postgres.recent_migration", {}),
        ("postgres.idle_in_transaction", {}),
        ("postgres.long_transactions", {}),
        ("postgres.connection_saturation", {}),
        ("postgres.deadlocks", {"window_seconds": 5}),
        ("postgres.replication_lag", {}),
    ],
    "llm": [("llm.token_quota", {}), ("llm.provider_status", {})],
    "http": [("http.error_rate", {})],
}


@dataclass(frozen=True)
class Hypothesis:
    title: str
    probe: str
    params: dict[str, Any] = field(default_factory=dict)
    target: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class InvestigationParams:
    incident: str
    severity: str
    status: str = "Investigating"
    commander: str = ""
    date: str = ""
    hypotheses: tuple[Hypothesis, ...] = ()
    targets: dict[str, str] = field(default_factory=dict)
    action_taken: str = ""
    verification: str = ""
    cleanup: str = ""
    root_cause: str = ""
    trigger: str = ""
    corrective_actions: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        return slugify(self.incident)

    @property
    def folder_name(self) -> str:
        return f"{self.date}-{self.slug}"

    def notebook_parameters(self) -> dict[str, Any]:
        """What papermill injects (and copies into notebook metadata): no secrets."""
        values = asdict(self)
        values["hypotheses"] = [h.to_dict() for h in self.hypotheses]
        values["corrective_actions"] = list(self.corrective_actions)
        return values


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "incident"


def choose(value: Any, allowed: Sequence[str], what: str) -> str:
    for option in allowed:
        if isinstance(value, str) and value.strip().lower() == option.lower():
            return option
    raise UsageError(f"unknown {what} {value!r} (choose from {', '.join(allowed)})")


def _mapping(values: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    given = values.get(name) or {}
    if not isinstance(given, Mapping):
        raise UsageError(f"{name} must be a mapping of names to values, got {type(given).__name__}")
    return given


def _sequence(values: Mapping[str, Any], name: str) -> Sequence[Any]:
    """A list as given; one string stands for a list of one (a single corrective action, say)."""
    given = values.get(name) or []
    if isinstance(given, str):
        return [given]
    if not isinstance(given, list | tuple):
        raise UsageError(f"{name} must be a list, got {type(given).__name__}")
    return given


def parse_hypothesis(text: str) -> Hypothesis:
    """`ID[:NAME=VALUE,…]` as given on the command line."""
    probe_id, _, assignments = text.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in assignments.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"hypothesis parameters must look like NAME=VALUE, got {item!r} in {text!r}")
        params[name.strip()] = value.strip()
    return Hypothesis(title="", probe=probe_id.strip(), params=params)


def _hypothesis(value: Any) -> Hypothesis:
    if isinstance(value, Hypothesis):
        return value
    if isinstance(value, str):
        return parse_hypothesis(value)
    if isinstance(value, Mapping) and isinstance(value.get("probe"), str):
        unknown = set(value) - {"title", "probe", "params", "target"}
        if unknown:
            raise UsageError(f"hypothesis {value['probe']} has unknown keys: {', '.join(sorted(unknown))}")
        return Hypothesis(
            title=str(value.get("title") or ""),
            probe=value["probe"],
            params=dict(_mapping(value, "params")),
            target=str(value.get("target") or ""),
        )
    raise UsageError(f"a hypothesis needs at least a probe id, got {value!r}")


def resolve(values: Mapping[str, Any], registry: Registry) -> InvestigationParams:
    """Check and complete investigation parameters; raise `UsageError` naming the problem."""
    known = set(InvestigationParams.__dataclass_fields__)
    unknown = set(values) - known
    if unknown:
        raise UsageError(f"unknown investigation parameter(s): {', '.join(sorted(unknown))}")
    incident = str(values.get("incident") or "").strip()
    if not incident:
        raise UsageError("an incident name is required (--incident NAME)")
    if "severity" not in values or not values["severity"]:
        raise UsageError(f"a severity is required (--severity {'|'.join(SEVERITIES)})")
    date = str(values.get("date") or "") or dt.datetime.now(dt.UTC).date().isoformat()
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise UsageError(f"date must be YYYY-MM-DD, got {date!r}") from None
    targets = {str(name): str(reference) for name, reference in _mapping(values, "targets").items()}
    hypotheses = [_hypothesis(item) for item in _sequence(values, "hypotheses")]
    if not hypotheses:
        hypotheses = default_hypotheses(targets, registry)
    if not hypotheses:
        raise UsageError("no hypotheses to test: name a target (--target postgres=…) or a --hypothesis")
    params = InvestigationParams(
        incident=incident,
        severity=choose(values["severity"], SEVERITIES, "severity"),
        status=choose(values.get("status") or "Investigating", STATUSES, "status"),
        commander=str(values.get("commander") or ""),
        date=date,
        hypotheses=tuple(_complete(h, targets, registry) for h in hypotheses),
        targets=targets,
        action_taken=str(values.get("action_taken") or ""),
        verification=str(values.get("verification") or ""),
        cleanup=str(values.get("cleanup") or ""),
        root_cause=str(values.get("root_cause") or ""),
        trigger=str(values.get("trigger") or ""),
        corrective_actions=tuple(str(item) for item in _sequence(values, "corrective_actions")),
    )
    return params


def default_hypotheses(targets: Mapping[str, str], registry: Registry) -> list[Hypothesis]:
    chosen = []
    for name in targets:
        for probe_id, params in DEFAULT_HYPOTHESES.get(name, []):
            if probe_id in registry:
                chosen.append(Hypothesis(title="", probe=probe_id, params=dict(params), target=name))
    return chosen


def _complete(hypothesis: Hypothesis, targets: Mapping[str, str], registry: Registry) -> Hypothesis:
    """Fill in title and target, and validate parameters and the target reference."""
    from incident_lab.targets import parse_target

    probe = registry.get(hypothesis.probe)
    params = probe.bind(hypothesis.params)
    explicit = {name: value for name, value in params.items() if name in hypothesis.params}
    target = hypothesis.target or (
        probe.target_kind
        if probe.target_kind in targets
        else (next(iter(targets)) if len(targets) == 1 else "")
    )
    if target not in targets:
        raise TargetError(
            f"hypothesis {probe.id} needs a {probe.target_kind} target: give --target "
            f"{probe.target_kind}=REFERENCE" + (f" (no target named {target!r})" if target else "")
        )
    parse_target(probe.target_kind, targets[target])
    return Hypothesis(hypothesis.title or probe.hypothesis, probe.id, explicit, target)
