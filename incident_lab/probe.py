"""What a probe is, and how one runs without ever hurting the caller.

A probe is a function decorated with `@probe`. Its first argument is the opened
target (a `PostgresSession`, say); its keyword-only arguments are its parameters,
typed and documented with `Annotated[type, "what it means"]`, optionally bounded
(`Bounds`, `OneOf`), and given defaults; one typed `float | None` may be left unset
(None). It returns a `Finding` built with `confirmed`, `refuted` or `inconclusive`.
The decorator may also name the probe's chart (a function from its result to a
`Chart`) and the template's symptom row it measures (`symptom="User Impact"`).

`run_probe` validates parameters before anything connects, runs the probe within
its time budget, and turns every error, timeout or unreachable target into an
inconclusive `Result` that carries the reason.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from incident_lab.charts import Chart
from incident_lab.exceptions import ParameterError
from incident_lab.redaction import scrub
from incident_lab.result import Metric, Result, Table, format_time, utc_now
from incident_lab.verdict import Verdict

log = logging.getLogger("incident_lab")

BUDGET_PARAM = "budget_seconds"
MAX_BUDGET_SECONDS = 3600.0


@dataclass(frozen=True)
class Finding:
    """What a probe concluded, before the runner adds timing and provenance."""

    verdict: Verdict
    summary: str
    evidence: Sequence[Table] = ()
    metrics: Mapping[str, tuple[float | int | None, str]] = field(default_factory=dict)
    hints: Sequence[str] = ()


def confirmed(summary: str, **details: Any) -> Finding:
    """The hypothesis holds: the evidence shows it."""
    return Finding(Verdict.TRUE, summary, **details)


def refuted(summary: str, **details: Any) -> Finding:
    """The hypothesis does not hold: the probe looked and found the opposite."""
    return Finding(Verdict.FALSE, summary, **details)


def inconclusive(reason: str, **details: Any) -> Finding:
    """The probe cannot tell, and says why."""
    return Finding(Verdict.INCONCLUSIVE, reason, **details)


@dataclass(frozen=True)
class Bounds:
    """The values a numeric parameter may take; `below_budget`: less than the probe's budget
    (a window the probe watches must leave it time to answer)."""

    min: float | None = None
    max: float | None = None
    below_budget: bool = False

    def describe(self) -> str:
        parts = [
            f"at least {self.min:g}" if self.min is not None else "",
            f"at most {self.max:g}" if self.max is not None else "",
            "shorter than budget_seconds" if self.below_budget else "",
        ]
        return ", ".join(part for part in parts if part)


@dataclass(frozen=True)
class OneOf:
    """The values a text parameter may take (compared without regard to case)."""

    choices: tuple[str, ...]

    def __init__(self, *choices: str) -> None:
        object.__setattr__(self, "choices", choices)


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: Any
    doc: str
    bounds: Bounds | None = None
    one_of: OneOf | None = None
    optional: bool = False  # declared `float | None`: None means "not set"

    @property
    def type_name(self) -> str:
        return "list[str]" if self.type is list else self.type.__name__

    def describe_limits(self) -> str:
        """The parameter's bounds or choices as `incident-lab probes` prints them."""
        if self.one_of:
            return "one of " + ", ".join(self.one_of.choices)
        return self.bounds.describe() if self.bounds else ""

    def coerce(self, value: Any) -> Any:
        """Accept the value as typed, or as text from a command line or form, within its limits."""
        if value is None and self.optional:
            return None
        try:
            coerced = _coerce(self.type, value)
        except (TypeError, ValueError):
            raise ParameterError(f"parameter {self.name} must be {self.type_name}, got {value!r}") from None
        if self.one_of is not None:
            chosen = next((c for c in self.one_of.choices if c.lower() == str(coerced).lower()), None)
            if chosen is None:
                raise ParameterError(f"parameter {self.name} must be {self.describe_limits()}, got {value!r}")
            return chosen
        if self.bounds is not None and isinstance(coerced, int | float):
            low, high = self.bounds.min, self.bounds.max
            if (low is not None and coerced < low) or (high is not None and coerced > high):
                raise ParameterError(f"parameter {self.name} must be {self.bounds.describe()}, got {value!r}")
        return coerced


def _coerce(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "yes", "on", "1"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"false", "no", "off", "0"}:
            return False
        raise ValueError(value)
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        if isinstance(value, int | float):
            return int(value)
        return int(str(value).strip())
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(value)
        number = float(value if isinstance(value, int | float) else str(value).strip())
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(value)
        return number
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(value)
        return value
    if kind is list:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return list(value)
        raise TypeError(value)
    raise TypeError(kind)


@dataclass(frozen=True)
class Probe:
    """A registered hypothesis probe."""

    id: str
    hypothesis: str
    test: str
    target_kind: str
    function: Callable[..., Finding]
    params: tuple[Param, ...]
    budget_seconds: float
    source: str = ""
    chart: Callable[[Result], Chart | None] | None = None
    symptom: str | None = None  # the template's symptom row this probe measures, e.g. "User Impact"

    @property
    def module_dir(self) -> Path:
        return Path(inspect.getfile(self.function)).parent

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise ParameterError(
            f"probe {self.id} has no parameter {name!r} (it takes: {', '.join(p.name for p in self.params)})"
        )

    def bind(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validate and complete parameters; raise `ParameterError` before anything connects."""
        given = dict(values or {})
        bound = {param.name: param.default for param in self.params}
        for name, value in given.items():
            bound[name] = self.param(name).coerce(value)
        budget = bound[BUDGET_PARAM]
        for param in self.params:
            if param.bounds and param.bounds.below_budget and bound[param.name] >= budget:
                raise ParameterError(
                    f"parameter {param.name} must be shorter than {BUDGET_PARAM} ({budget:g})"
                )
        return bound


TYPES_BY_NAME = {"int": int, "float": float, "bool": bool, "str": str, "list[str]": list}


def describe_probe(probe: Probe) -> dict[str, Any]:
    """What a probe is, as JSON: enough to show its results where the probe cannot be loaded."""
    return {
        "id": probe.id,
        "hypothesis": probe.hypothesis,
        "test": probe.test,
        "target": probe.target_kind,
        "budget_seconds": probe.budget_seconds,
        "params": [
            {"name": p.name, "type": p.type_name, "default": p.default, "doc": p.doc}
            for p in probe.params
            if p.name != BUDGET_PARAM
        ],
    }


def recorded_probe(description: Mapping[str, Any]) -> Probe:
    """A probe known only by its description (see `describe_probe`): its results show as
    recorded, but it cannot run, and says so."""

    def cannot_run(*_: Any, **__: Any) -> Finding:
        return inconclusive(
            f"probe {description['id']} was defined where its results were recorded; it cannot run here"
        )

    params = tuple(
        Param(p["name"], TYPES_BY_NAME.get(p["type"], str), p["default"], p["doc"])
        for p in description["params"]
    )
    budget = float(description["budget_seconds"])
    budget_param = Param(BUDGET_PARAM, float, budget, "the most time the probe may take, in seconds")
    return Probe(
        description["id"],
        description["hypothesis"],
        description["test"],
        description["target"],
        cannot_run,
        (*params, budget_param),
        budget,
    )


def probe(
    id: str,
    *,
    hypothesis: str,
    test: str,
    target: str,
    budget_seconds: float = 10.0,
    chart: Callable[[Result], Chart | None] | None = None,
    symptom: str | None = None,
) -> Callable[[Callable[..., Finding]], Probe]:
    """Declare a hypothesis probe; its keyword-only arguments become its parameters."""

    def declare(function: Callable[..., Finding]) -> Probe:
        params = _params_of(function, id)
        params += (
            Param(
                BUDGET_PARAM,
                float,
                budget_seconds,
                "the most time the probe may take, in seconds",
                Bounds(min=0.1, max=MAX_BUDGET_SECONDS),
            ),
        )
        return Probe(id, hypothesis, test, target, function, params, budget_seconds, "", chart, symptom)

    return declare


def _params_of(function: Callable[..., Finding], probe_id: str) -> tuple[Param, ...]:
    hints = typing.get_type_hints(function, include_extras=True)
    params = []
    for name, spec in inspect.signature(function).parameters.items():
        if spec.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        hint = hints.get(name)
        if typing.get_origin(hint) is not Annotated or spec.default is inspect.Parameter.empty:
            raise TypeError(f"probe {probe_id}: parameter {name} needs Annotated[type, 'doc'] and a default")
        kind, doc, *limits = typing.get_args(hint)
        optional = type(None) in typing.get_args(kind)
        if optional:
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        if typing.get_origin(kind) in (list, types.GenericAlias):
            kind = list
        bounds = next((limit for limit in limits if isinstance(limit, Bounds)), None)
        one_of = next((limit for limit in limits if isinstance(limit, OneOf)), None)
        params.append(Param(name, kind, spec.default, doc, bounds, one_of, optional))
    return tuple(params)


@dataclass
class Attempt:
    """What happened to work run against a target within a budget: its value, or the error
    it raised, or that it overran (then its session was cancelled); and the session's test."""

    value: Any = None
    error: BaseException | None = None
    overran: bool = False
    tested: tuple[str, ...] = ()
    server: str = ""  # what the session said the server is, e.g. "PostgreSQL 16.2"


def attempt(target: Any, probe: Probe | None, budget: float, work: Callable[[Any], Any]) -> Attempt:
    """Open the target's session and run `work(session)` in a worker, waiting at most
    `budget` seconds; nothing that happens there reaches the caller as an exception."""
    outcome = Attempt()
    session_holder: list[Any] = []

    def run() -> None:
        try:
            with target.session(probe, budget) as session:
                session_holder.append(session)
                outcome.value = work(session)
        except BaseException as error:  # work against a live system must never take its caller down
            outcome.error = error

    worker = threading.Thread(target=run, name=f"probe {probe.id if probe else 'query'}", daemon=True)
    worker.start()
    worker.join(budget)
    session = session_holder[0] if session_holder else None
    if worker.is_alive():
        outcome.overran = True
        if session is not None:
            session.cancel()
    if session is not None:
        outcome.tested = tuple(session.tested)
        outcome.server = str(getattr(session, "server", "") or "")
    return outcome


def describe_error(error: BaseException) -> str:
    """An error as the one line a result shows, with anything secret masked."""
    detail = scrub(str(error)).strip() or type(error).__name__
    return f"{type(error).__name__}: {detail}"


def run_probe(
    probe: Probe,
    target: Any,
    params: Mapping[str, Any] | None = None,
    *,
    hypothesis: str | None = None,
    target_name: str = "",
) -> Result:
    """Run one probe against one parsed target and return its result; never raises for a
    failure of the probe or the target, only for the caller's own bad parameters."""
    bound = probe.bind(params)
    budget = bound[BUDGET_PARAM]
    probe_params = {name: value for name, value in bound.items() if name != BUDGET_PARAM}
    started = utc_now()
    clock = time.monotonic()
    tried = attempt(target, probe, budget, lambda session: probe.function(session, **probe_params))
    error: str | None = None
    if tried.overran:
        finding = inconclusive(f"the probe did not finish within its budget of {budget:g} s")
        error = f"timeout: no answer within {budget:g} s"
    elif tried.error is not None:
        error = describe_error(tried.error)
        finding = inconclusive(f"could not test: {error.partition(': ')[2].splitlines()[0]}")
        log.info("probe %s on %s failed: %s", probe.id, target.label, error)
    elif not isinstance(tried.value, Finding):
        finding = inconclusive(f"the probe returned {type(tried.value).__name__}, not a verdict")
        error = f"TypeError: probe {probe.id} must return confirmed(…), refuted(…) or inconclusive(…)"
    else:
        finding = tried.value
    duration_ms = round((time.monotonic() - clock) * 1000, 1)
    observed = format_time(utc_now())
    return Result(
        probe=probe.id,
        hypothesis=hypothesis or probe.hypothesis,
        verdict=finding.verdict,
        summary=scrub(finding.summary),
        test=scrub("\n\n".join(tried.tested)),
        target=target.label,
        started_at=format_time(started),
        duration_ms=duration_ms,
        params=bound,
        evidence=tuple(table.scrubbed() for table in finding.evidence),
        metrics=tuple(Metric(name, value, unit, observed) for name, (value, unit) in finding.metrics.items()),
        error=error,
        hints=tuple(scrub(hint) for hint in finding.hints),
        kind=probe.target_kind,
        target_name=target_name,
        server=tried.server,
    )
