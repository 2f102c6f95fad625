"""`incident-lab watch`: re-run an incident's hypotheses during Monitoring until they clear.

Rounds run the probes directly, in this process (no kernel per round); each prints
one line. The watch stops when every hypothesis has been false for N rounds in a
row, after M rounds, or on Ctrl-C, and then archives a new run with the monitoring
history, rendered by papermill like any other run.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from incident_lab.archive import Archive
from incident_lab.describe import hypothesis_letter
from incident_lab.exceptions import UsageError
from incident_lab.execute import RunOutcome
from incident_lab.history import VERDICT_LABELS, load_history
from incident_lab.investigation import resolve
from incident_lab.notebook import Investigation
from incident_lab.registry import Registry
from incident_lab.result import Result

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """`30s`, `2m`, `500ms`, `1h` or plain seconds."""
    match = DURATION.match(text)
    if not match or float(match[1]) <= 0:
        raise UsageError(f"not a duration: {text!r} (examples: 30s, 2m, 500ms)")
    return float(match[1]) * UNIT_SECONDS[match[2]]


@dataclass(frozen=True)
class WatchOutcome:
    rounds: int
    cleared: bool
    interrupted: bool
    archived: RunOutcome


def open_latest(
    incident: str, archive: Archive, registry: Registry, targets: Mapping[str, str]
) -> Investigation:
    """The incident's latest run, with its parameters and targets (some replaced by `targets`)."""
    folder, _ = archive.find(incident)
    runs = archive.runs(folder)
    if not runs:
        raise UsageError(f"incident {folder.name} has no runs to watch yet")
    values = dict(json.loads((folder / runs[-1].run / "results.json").read_text())["incident"])
    values["targets"] = {**values["targets"], **targets}
    return Investigation(
        resolve(values, registry), load_history(folder), registry, archive_dir=str(archive.root)
    )


def round_line(number: int, results: list[Result], previous: list[Result] | None) -> str:
    verdicts = "  ".join(f"{hypothesis_letter(i)} {r.label}" for i, r in enumerate(results))
    changes = [
        f"{hypothesis_letter(i)} {VERDICT_LABELS[before.verdict]} → {after.label}"
        for i, (before, after) in enumerate(zip(previous or [], results, strict=False))
        if before.verdict != after.verdict
    ]
    at = min(r.started_at for r in results)[11:19]
    return f"round {number}  {at} UTC  {verdicts}" + (f"  (changed: {', '.join(changes)})" if changes else "")


def watch(
    investigation: Investigation,
    *,
    every_seconds: float,
    until_clear: int,
    max_rounds: int,
    say: Callable[[str], None] = print,
) -> WatchOutcome:
    investigation.set_status("Monitoring")
    count = len(investigation.params.hypotheses)
    previous: list[Result] | None = None
    clear_streak = rounds = 0
    interrupted = False
    try:
        with ThreadPoolExecutor(max_workers=min(count, 8), thread_name_prefix="incident_lab_watch") as pool:
            while rounds < max_rounds:
                rounds += 1
                results = list(pool.map(investigation.run_hypothesis, range(count)))
                investigation.record_all(results, f"watch round {rounds}")
                say(round_line(rounds, results, previous))
                previous = results
                clear_streak = clear_streak + 1 if all(r.verdict is False for r in results) else 0
                if clear_streak >= until_clear or rounds >= max_rounds:
                    break
                time.sleep(every_seconds)
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: archiving what was seen so far")
    cleared = clear_streak >= until_clear
    if cleared:
        say(f"every hypothesis has been False for {clear_streak} rounds in a row: consider status Resolved")
    return WatchOutcome(rounds, cleared, interrupted, investigation.save_to_archive())
