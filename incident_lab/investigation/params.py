"""An investigation's parameters: what the incident is, which hypotheses to test, where.

The same parameters drive the template notebook, `incident-lab run`, `new` and
`watch`. They are checked here, before any notebook runs, so that a user's mistake
is one clear error and nothing is archived. Targets are named references
(`primary: postgres:service=shop`, service names, `env:NAME`, URIs without a
password); a password given on the command line is moved out of the parameters into
the kernel's environment (see `kinds.SECRETS_VARIABLE`). A target's kind is the one
it names, else its name where that is a kind's, else the kind of the probes aimed
at it; without hypotheses, every target gets its kind's default ones.

The incident's start, `started_at` (UTC; default: `DEFAULT_LOOKBACK` before now), is
what windowed probes look around: a probe that declares a parameter named
`started_at` is given the investigation's unless its hypothesis sets one. A
hypothesis may also say which of the template's symptoms it measures (`symptom:
User Impact`), as a probe may.

An investigation opened from an alert (see `alerts`) also has the affected `service`,
the alert's `links` (http(s) only: the header makes them clickable) and `alert`, what it
keeps of the alert (`ALERT_KEYS`), from which its timeline starts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from incident_lab.exceptions import TargetError, UsageError
from incident_lab.kinds import TargetSpec, target_spec
from incident_lab.probe import Probe
from incident_lab.registry import Registry
from incident_lab.result import format_time, parse_time

SEVERITIES = ("Critical", "High", "Medium", "Low")
# Probes of one investigation run side by side, at most this many at once (a parameter).
DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 256
STATUSES = ("Investigating", "Identified", "Monitoring", "Resolved")
SYMPTOMS = ("User Impact", "Data Integrity", "Revenue Impact")  # the template's symptom rows
# What an investigation keeps of the alert that opened it (`alerts.Alert.summary`).
ALERT_KEYS = ("source", "group_key", "status", "name", "fired_at", "resolved_at")
STARTED_AT = "started_at"  # the parameter through which a probe is given the incident's start
DEFAULT_LOOKBACK = dt.timedelta(minutes=30)
CLOCK_SKEW = dt.timedelta(minutes=5)  # a start this little in the future is another clock's error


@dataclass(frozen=True)
class Hypothesis:
    title: str
    probe: str
    params: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    symptom: str = ""  # the template's symptom row this hypothesis measures, e.g. "User Impact"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class InvestigationParams:
    incident: str
    severity: str
    status: str = "Investigating"
    commander: str = ""
    date: str = ""
    started_at: str = ""
    hypotheses: tuple[Hypothesis, ...] = ()
    targets: dict[str, str] = field(default_factory=dict)
    action_taken: str = ""
    verification: str = ""
    cleanup: str = ""
    root_cause: str = ""
    trigger: str = ""
    corrective_actions: tuple[str, ...] = ()
    concurrency: int = DEFAULT_CONCURRENCY
    service: str = ""  # the affected service, as the alert (or the user) names it
    links: dict[str, str] = field(default_factory=dict)  # label → http(s) URL, shown in the header
    alert: dict[str, str] = field(default_factory=dict)  # the alert that opened it: see ALERT_KEYS

    def notebook_parameters(self) -> dict[str, Any]:
        """What papermill injects (and copies into notebook metadata): no secrets."""
        values = asdict(self)
        # A start a hypothesis took from the investigation is left out, so that it follows
        # the investigation's when someone changes that in the notebook.
        values["hypotheses"] = [
            {
                **h.to_dict(),
                "params": {k: v for k, v in h.params.items() if (k, v) != (STARTED_AT, self.started_at)},
            }
            for h in self.hypotheses
        ]
        values["corrective_actions"] = list(self.corrective_actions)
        return values


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


def _hypotheses(value: Any) -> list[Hypothesis]:
    """One hypothesis as given; one per target where it names several (`target: [a, b]`)."""
    if isinstance(value, Hypothesis):
        return [value]
    if isinstance(value, str):
        return [parse_hypothesis(value)]
    if isinstance(value, Mapping) and isinstance(value.get("probe"), str):
        unknown = set(value) - {"title", "probe", "params", "target", "symptom"}
        if unknown:
            raise UsageError(f"hypothesis {value['probe']} has unknown keys: {', '.join(sorted(unknown))}")
        named = value.get("target") or ""
        targets = [str(t) for t in named] if isinstance(named, list | tuple) else [str(named)]
        title, params = str(value.get("title") or ""), dict(_mapping(value, "params"))
        symptom = choose(value["symptom"], SYMPTOMS, "symptom") if value.get("symptom") else ""
        return [
            Hypothesis(title=title, probe=value["probe"], params=params, target=t, symptom=symptom)
            for t in targets
        ]
    raise UsageError(f"a hypothesis needs at least a probe id, got {value!r}")


def target_group(name: str, value: Any, registry: Registry) -> list[TargetSpec]:
    """The targets a name stands for: one, or a group's members (`shards/1`, `shards/2`, …)
    from a list of references or from references joined by commas (`KIND:ref1,ref2`)."""
    kinds = registry.kind_names
    if isinstance(value, list | tuple):
        references = [str(item) for item in value]
    else:
        spec = target_spec(name, str(value), kinds)
        if not spec.kind:
            return [spec]
        pieces = registry.kind(spec.kind).group_separator.split(spec.reference)
        if len(pieces) == 1:
            return [spec]
        references = [f"{spec.kind}:{piece.strip()}" for piece in pieces]
    if not references:
        raise TargetError(f"target group {name} has no members")
    group_kind = target_spec(name, references[0], kinds).kind or (name if name in kinds else "")
    members = []
    for number, reference in enumerate(references, start=1):
        member = target_spec(f"{name}/{number}", reference, kinds)
        members.append(replace(member, kind=member.kind or group_kind))
    return members


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
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):  # fromisoformat takes 20261128 and 2026-W48-6
            raise ValueError(date)
        dt.date.fromisoformat(date)
    except ValueError:
        raise UsageError(f"date must be YYYY-MM-DD, a real calendar date; got {date[:40]!r}") from None
    concurrency = values.get("concurrency", DEFAULT_CONCURRENCY)
    if (
        not isinstance(concurrency, int)
        or isinstance(concurrency, bool)
        or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        raise UsageError(
            f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY}, got {concurrency!r}"
        )
    started_at = incident_start(values.get("started_at"))
    specs: dict[str, TargetSpec] = {}
    groups: dict[str, list[str]] = {}
    for name, value in _mapping(values, "targets").items():
        members = target_group(str(name), value, registry)
        if len(members) > 1 or members[0].name != str(name):
            groups[str(name)] = [member.name for member in members]
        specs.update((member.name, member) for member in members)
    hypotheses = [h for item in _sequence(values, "hypotheses") for h in _hypotheses(item)]
    if not hypotheses:
        hypotheses = default_hypotheses(specs, registry)
    if not hypotheses:
        raise UsageError("no hypotheses to test: name a target (--target postgres=…) or a --hypothesis")
    completed = tuple(done for h in hypotheses for done in _complete(h, specs, groups, registry, started_at))
    params = InvestigationParams(
        incident=incident,
        severity=choose(values["severity"], SEVERITIES, "severity"),
        status=choose(values.get("status") or "Investigating", STATUSES, "status"),
        commander=str(values.get("commander") or ""),
        date=date,
        started_at=started_at,
        hypotheses=completed,
        targets={name: spec.written for name, spec in specs.items()},
        action_taken=str(values.get("action_taken") or ""),
        verification=str(values.get("verification") or ""),
        cleanup=str(values.get("cleanup") or ""),
        root_cause=str(values.get("root_cause") or ""),
        trigger=str(values.get("trigger") or ""),
        corrective_actions=tuple(str(item) for item in _sequence(values, "corrective_actions")),
        concurrency=concurrency,
        service=str(values.get("service") or ""),
        links=checked_links(_mapping(values, "links")),
        alert=checked_alert(_mapping(values, "alert")),
    )
    return params


def checked_links(given: Mapping[str, Any]) -> dict[str, str]:
    """Header links: http(s) only, since they become links a reader clicks."""
    links = {}
    for label, url in given.items():
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise UsageError(f"link {str(label)[:40]!r} must be an http(s) URL, got {str(url)[:60]!r}")
        links[str(label)] = url
    return links


def checked_alert(given: Mapping[str, Any]) -> dict[str, str]:
    unknown = set(given) - set(ALERT_KEYS)
    if unknown:
        raise UsageError(f"alert has unknown keys: {', '.join(sorted(map(str, unknown)))}")
    alert = {key: str(given.get(key) or "") for key in ALERT_KEYS if key in given}
    for key in ("fired_at", "resolved_at"):
        if alert.get(key):
            alert[key] = incident_start(alert[key])
    return alert


def incident_start(value: Any, now: dt.datetime | None = None) -> str:
    """`started_at` as given (ISO 8601 text, or the datetime YAML reads), in the contract's
    UTC format; empty: `DEFAULT_LOOKBACK` before now. A time without an offset is UTC."""
    now = now or dt.datetime.now(dt.UTC)
    if value is None or value == "":
        return format_time(now - DEFAULT_LOOKBACK)
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = parse_time(value.strip())
        except ValueError:
            raise UsageError(
                f"started_at must be an ISO 8601 time such as 2026-11-28T00:00:00Z, got {value!r}"
            ) from None
    else:
        raise UsageError(f"started_at must be an ISO 8601 time, got {type(value).__name__}")
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    if moment > now + CLOCK_SKEW:
        raise UsageError(f"started_at {format_time(moment)} is in the future (now is {format_time(now)})")
    return format_time(moment)


def with_incident_start(probe: Probe, params: Mapping[str, Any], started_at: str) -> dict[str, Any]:
    """The rule for windowed probes: one that declares `started_at` gets the incident's
    start, unless its own parameters set one (which is checked like the investigation's)."""
    filled = dict(params)
    if any(param.name == STARTED_AT for param in probe.params):
        given = filled.get(STARTED_AT)
        filled[STARTED_AT] = incident_start(given) if given else started_at
    return filled


def default_hypotheses(targets: Mapping[str, TargetSpec], registry: Registry) -> list[Hypothesis]:
    """Each target's kind's default hypotheses, in the order the targets were given."""
    chosen = []
    for spec in targets.values():
        if not spec.kind:
            continue
        for default in registry.kind(spec.kind).default_hypotheses:
            if default.probe in registry:
                chosen.append(Hypothesis("", default.probe, dict(default.params), spec.name))
    return chosen


def _targets_for(kind: str, targets: Mapping[str, TargetSpec]) -> list[str]:
    """The targets a hypothesis that names none is meant for: every target of its probe's
    kind (a fleet, when several), else the one target whose kind is not known."""
    of_kind = [name for name, spec in targets.items() if spec.kind == kind]
    if of_kind:
        return of_kind
    unknown = [name for name, spec in targets.items() if not spec.kind]
    return unknown if len(unknown) == 1 else [""]


def _complete(
    hypothesis: Hypothesis,
    targets: dict[str, TargetSpec],
    groups: Mapping[str, list[str]],
    registry: Registry,
    started_at: str,
) -> list[Hypothesis]:
    """The hypothesis on each target it is for (a group's members, or every target of its
    kind when it names none), each checked: title, parameters, the incident's start,
    target reference, kind."""
    if hypothesis.target in groups:
        named = groups[hypothesis.target]
    elif hypothesis.target:
        named = [hypothesis.target]
    else:
        named = _targets_for(registry.get(hypothesis.probe).target_kind, targets)
    return [_complete_one(replace(hypothesis, target=name), targets, registry, started_at) for name in named]


def _complete_one(
    hypothesis: Hypothesis, targets: dict[str, TargetSpec], registry: Registry, started_at: str
) -> Hypothesis:
    probe = registry.get(hypothesis.probe)
    given = with_incident_start(probe, hypothesis.params, started_at)
    params = probe.bind(given)
    explicit = {name: value for name, value in params.items() if name in given}
    kind = probe.target_kind
    name = hypothesis.target
    if name not in targets:
        given = "; ".join(f"{spec.name}, {spec.kind or 'kind not given'}" for spec in targets.values())
        raise TargetError(
            f"hypothesis {probe.id} needs a {kind} target: give --target NAME={kind}:REFERENCE"
            + (f" (no target named {name!r})" if name else f" (targets given: {given})" if given else "")
        )
    spec = targets[name]
    if spec.kind and spec.kind != kind:
        raise TargetError(f"hypothesis {probe.id} needs a {kind} target, but target {name} is {spec.kind}")
    targets[name] = replace(spec, kind=kind)
    registry.kind(kind).target(spec.reference, name)
    return Hypothesis(hypothesis.title or probe.hypothesis, probe.id, explicit, name, hypothesis.symptom)


def with_hypothesis(
    params: InvestigationParams, hypothesis: Hypothesis, registry: Registry
) -> InvestigationParams:
    """The parameters with one more hypothesis, checked as those given at the start are."""
    specs = {
        name: target_spec(name, written, registry.kind_names) for name, written in params.targets.items()
    }
    added = _complete(hypothesis, specs, {}, registry, params.started_at)
    targets = {name: spec.written for name, spec in specs.items()}
    return replace(params, hypotheses=(*params.hypotheses, *added), targets=targets)


def with_probe_params(
    params: InvestigationParams, index: int, values: Mapping[str, Any], registry: Registry
) -> InvestigationParams:
    """The parameters with hypothesis `index`'s probe parameters replaced by `values` (checked)."""
    hypothesis = params.hypotheses[index]
    probe = registry.get(hypothesis.probe)
    bound = probe.bind(values)
    # A value equal to the probe's default is no choice of the user's: it is left out.
    explicit = {
        name: value for name, value in bound.items() if name in values and value != probe.param(name).default
    }
    hypotheses = list(params.hypotheses)
    hypotheses[index] = replace(hypothesis, params=explicit)
    return replace(params, hypotheses=tuple(hypotheses))
