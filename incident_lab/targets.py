"""Target references: what a probe points at, given as `KIND=REFERENCE` by people.

A reference never needs to hold a secret: `env:NAME` reads it from an environment
variable at run time, PostgreSQL takes service names and `~/.pgpass`, and LLM
providers read their usual key variables. Whatever secret does arrive is registered
for redaction, and a target shows itself only by its redacted `label`.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any

from incident_lab.exceptions import TargetError
from incident_lab.redaction import scrub

# A password given inside a target reference travels to the notebook's kernel here, as
# a JSON object mapping the password-free reference to its password, never in the
# notebook's parameters (papermill copies those into the notebook's metadata).
SECRETS_VARIABLE = "INCIDENT_LAB_TARGET_SECRETS"

# Target kinds, imported only when used so that the command line starts fast.
TARGET_KINDS: dict[str, str] = {
    "postgres": "incident_lab.postgres:PostgresTarget",
    "http": "incident_lab.http:HttpTarget",
    "llm": "incident_lab.llm:LlmTarget",
}


def target_class(kind: str) -> Any:
    if kind not in TARGET_KINDS:
        raise TargetError(f"unknown target kind {kind!r} (known: {', '.join(sorted(TARGET_KINDS))})")
    module_name, class_name = TARGET_KINDS[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def parse_target(kind: str, reference: str) -> Any:
    """Parse one reference of a known kind into a target object with a safe `label`."""
    if reference.startswith("env:"):
        reference = environment_reference(reference)
    return target_class(kind).parse(reference)


def split_secret(kind: str, reference: str) -> tuple[str, str | None]:
    """The reference without its secret, and the secret (None when it carries none)."""
    splitter = getattr(target_class(kind), "split_secret", None)
    if splitter is None or reference.startswith("env:"):
        return reference, None
    return splitter(reference)


def secret_for(reference: str) -> str | None:
    """The secret handed to this process for a password-free reference, if any."""
    try:
        secrets = json.loads(os.environ.get(SECRETS_VARIABLE) or "{}")
    except ValueError:
        return None
    return secrets.get(reference) if isinstance(secrets, dict) else None


def split_assignment(text: str, what: str) -> tuple[str, str]:
    """Split `NAME=VALUE` as written on a command line."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise TargetError(f"{what} must look like NAME=VALUE, got {scrub(text)[:60]!r}")
    return name.strip(), value.strip()


def environment_reference(reference: str) -> str:
    """Resolve `env:NAME` to the variable's value; errors name only the variable."""
    name = reference.removeprefix("env:")
    value = os.environ.get(name)
    if value is None:
        raise TargetError(f"environment variable {name} is not set")
    return value
