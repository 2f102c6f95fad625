"""YAML written by people (parameters, routing and pattern files): read up to a size limit,
parsed with a safe loader, every failure one line that names the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from incident_lab.exceptions import UsageError


def read_limited(path: str | Path, limit_bytes: int, what: str, error: type[UsageError]) -> bytes:
    """The bytes of `what` ("parameters file") at `path`, refused above `limit_bytes` without
    reading further (a file that large is a mistake or worse)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(limit_bytes + 1)
    except OSError as problem:
        raise error(f"cannot read {what} {path}: {problem.strerror}") from None
    if len(text) > limit_bytes:
        raise error(f"{what} {path} is larger than {limit_bytes // 1024} KiB")
    return text


def parse_yaml(text: bytes, where: str, error: type[UsageError]) -> Any:
    """`text` parsed by the C safe loader where PyYAML has it; `where` starts each error."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # a safe loader, C or Python
    except RecursionError:  # the Python loader, deep in its constructor
        raise error(f"{where} is nested too deeply") from None
    except (yaml.YAMLError, ValueError, TypeError) as problem:  # ValueError: YAML's date parser
        if "maximum nesting depth" in str(problem):  # libyaml stops at 1,000 levels
            raise error(f"{where} is nested too deeply") from None
        reason = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
        raise error(f"{where}: not valid YAML: {reason}") from None
