"""Durations as people type them: `30s`, `2m`, `500ms`, `1h`, or plain seconds."""

from __future__ import annotations

import re

from incident_lab.exceptions import UsageError

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds in `text`; `UsageError` with examples when it is not a positive duration."""
    match = DURATION.match(text)
    if not match or float(match[1]) <= 0:
        raise UsageError(f"not a duration: {text!r} (examples: 30s, 2m, 500ms)")
    return float(match[1]) * UNIT_SECONDS[match[2]]
