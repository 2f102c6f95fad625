"""Target kinds: the systems probes point at, each one plug-in.

A kind (PostgreSQL, an HTTP service, an LLM provider, a team's Kafka) is one
`TargetKind`: it parses a reference into a `Target` with a redacted `label`, splits a
secret out of a reference, and opens a session for a probe within its budget (the
target's `session`). It also brings what it offers an investigation: the hypotheses
worth testing first on a target of its kind, and a chart for its probes' results.
Kinds are registered like probes (see `incident_lab.registry`): the built-in ones are
the packages under `incident_lab.kinds`, others come from the entry-point group
`incident_lab.kinds` or from a probe path.

People name targets `NAME=REFERENCE` or `NAME=KIND:REFERENCE` (`primary=postgres:
service=shop`); where the name is a kind's (`postgres=service=shop`) the kind may be
left out. A reference never needs to hold a secret: `env:NAME` reads it from an
environment variable at run time. Whatever secret does arrive is registered for
redaction, and a target shows itself only by its redacted `label`.
"""

from __future__ import annotations

import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from incident_lab.exceptions import TargetError, UsageError
from incident_lab.redaction import MASK, SECRET_QUERY_NAMES, scrub

if TYPE_CHECKING:
    from incident_lab.charts import Chart
    from incident_lab.probe import Probe
    from incident_lab.result import Result, Table

# A secret given inside a target reference travels to the notebook's kernel here, as a
# JSON object mapping the secret-free reference to its secret, never in the notebook's
# parameters (papermill copies those into the notebook's metadata).
SECRETS_VARIABLE = "INCIDENT_LAB_TARGET_SECRETS"
ENVIRONMENT_PREFIX = "env:"


class Session(Protocol):
    """What a probe's first argument offers the runner: the statements it sent, and a way
    to stop when the budget runs out."""

    tested: list[str]

    def cancel(self) -> None: ...


class Target(Protocol):
    label: str

    def session(self, probe: Probe | None, budget_seconds: float) -> AbstractContextManager[Any]:
        """A session for `probe` (or, with None, for an ad-hoc statement) within the budget."""


@dataclass(frozen=True)
class DefaultHypothesis:
    """A hypothesis a kind offers when the user chose none: a probe and its parameters."""

    probe: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertHypothesis:
    """A kind's probe that re-tests an alert's own expression, given in parameter `param`."""

    probe: str
    param: str


class TargetKind(ABC):
    """One kind of target. Subclasses set `name` and `description` and implement `parse`."""

    name: ClassVar[str]
    description: ClassVar[str]
    default_hypotheses: ClassVar[tuple[DefaultHypothesis, ...]] = ()
    # The probe a routing file's `alert_expression: true` adds when an alert carries its expression.
    alert_hypothesis: ClassVar[AlertHypothesis | None] = None
    # How to give a target of this kind its secret without writing it into a reference.
    secret_advice: ClassVar[str] = "give the reference through an env:VARIABLE reference"
    # Where the value of a target group (`shards=KIND:ref1,ref2`) splits: at a comma that
    # starts another reference of this kind. A reference holding a comma of its own goes in
    # a parameters file's list instead.
    group_separator: ClassVar[re.Pattern[str]] = re.compile(r",(?=\s*(?:env:|[A-Za-z][A-Za-z0-9+.-]*://))")

    @abstractmethod
    def parse(self, reference: str) -> Target:
        """The target a reference names; `TargetError` naming the problem when it cannot be one."""

    def split_secret(self, reference: str) -> tuple[str, str | None]:
        """The reference without its secret, and the secret (None when it carries none)."""
        return scrub(reference), None

    def chart(self, result: Result) -> Chart | None:
        """A chart for a result of this kind whose probe draws none of its own."""
        return None

    def query(self, session: Any, statement: str, params: Mapping[str, Any] | None, max_rows: int) -> Table:
        """Run one ad-hoc read-only statement in a session of this kind: the rows, at most
        `max_rows` of them, with the count of those left out."""
        raise UsageError(f"targets of kind {self.name} take no ad-hoc statements")

    def target(self, reference: str, name: str = "") -> Target:
        """The target a reference names, reading `env:NAME` from the environment first. Every
        reason it cannot be one names the target (`name`, when it has one) and its redacted
        reference, here for every kind, so that no kind's `parse` need remember to."""
        try:
            return self.parse(environment_reference(reference))
        except TargetError as error:
            raise TargetError(f"{target_description(name, reference)}: {error}") from None

    def secret_free(self, reference: str) -> tuple[str, str | None]:
        """`split_secret`, except that an `env:` reference holds no secret to split."""
        if reference.startswith(ENVIRONMENT_PREFIX):
            return reference, None
        return self.split_secret(reference)

    def __repr__(self) -> str:
        return f"<target kind {self.name}>"


@dataclass(frozen=True)
class TargetSpec:
    """A named target as given: `name`, its `kind` ("" when not said) and its `reference`."""

    name: str
    kind: str
    reference: str

    @property
    def written(self) -> str:
        """The value as people write it after `NAME=`: the kind is left out where the name says it."""
        return self.reference if not self.kind or self.kind == self.name else f"{self.kind}:{self.reference}"


def split_kind(value: str, kinds: Collection[str]) -> tuple[str, str]:
    """`KIND:REFERENCE` into its kind and reference, when it starts with a known kind's name;
    otherwise no kind. `postgresql://…` and `http://…` are references, not kinds."""
    prefix, sep, rest = value.partition(":")
    if sep and prefix in kinds and not rest.startswith("//"):
        return prefix, rest
    return "", value


def target_spec(name: str, value: str, kinds: Collection[str]) -> TargetSpec:
    """One target as named in parameters: the kind said, or the name when it is a kind's."""
    kind, reference = split_kind(value.strip(), kinds)
    if not reference.strip():
        raise TargetError(f"target {name} has an empty reference")
    return TargetSpec(name, kind or (name if name in kinds else ""), reference.strip())


def split_assignment(text: str, what: str) -> tuple[str, str]:
    """Split `NAME=VALUE` as written on a command line."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise TargetError(f"{what} must look like NAME=VALUE, got {scrub(text)[:60]!r}")
    return name.strip(), value.strip()


# What `scrub` does not know as a credential's shape but a malformed reference may hold: a
# `NAME=VALUE` word whose name is a credential's (`token=…` after a Prometheus URL; an
# `env:` value is a variable's name, kept), and `user:password@` without a scheme.
_SECRET_WORD = re.compile(rf"(?P<keep>(?:^|[\s?&;])(?:{SECRET_QUERY_NAMES})\s*=\s*)(?!env:)[^\s&;#]+", re.I)
_BARE_USERINFO = re.compile(r"(?P<keep>^[^\s:/@]*:)[^\s/@]+(?=@)")
SHOWN_REFERENCE_CHARACTERS = 60


def redacted_reference(reference: str) -> str:
    """A reference as it may be shown or stored, however malformed or of whatever kind:
    every credential-shaped part masked."""
    return _BARE_USERINFO.sub(r"\g<keep>" + MASK, _SECRET_WORD.sub(r"\g<keep>" + MASK, scrub(reference)))


def target_description(name: str, reference: str) -> str:
    """`target NAME ('REFERENCE')`, the reference redacted, cut to `SHOWN_REFERENCE_CHARACTERS`
    and quoted (its control characters escaped, so an error stays one line); without a name,
    the reference alone."""
    masked = redacted_reference(reference)
    if len(masked) > SHOWN_REFERENCE_CHARACTERS:
        masked = masked[: SHOWN_REFERENCE_CHARACTERS - 1] + "…"
    return f"target {name} ({masked!r})" if name else f"target {masked!r}"


def environment_reference(reference: str) -> str:
    """Resolve `env:NAME` to the variable's value (errors name only the variable); any
    other reference as it is."""
    if not reference.startswith(ENVIRONMENT_PREFIX):
        return reference
    name = reference.removeprefix(ENVIRONMENT_PREFIX)
    value = os.environ.get(name)
    if value is None:
        raise TargetError(f"environment variable {name} is not set")
    return value


def secret_for(reference: str) -> str | None:
    """The secret handed to this process for a secret-free reference, if any."""
    try:
        secrets = json.loads(os.environ.get(SECRETS_VARIABLE) or "{}")
    except ValueError:
        return None
    return secrets.get(reference) if isinstance(secrets, dict) else None
