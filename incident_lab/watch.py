"""`incident-lab watch`: re-run an incident's hypotheses during Monitoring until they clear.

Rounds run the probes directly, in this process (no kernel per round); each prints
one line. The watch stops when every hypothesis has been false for N rounds in a
row, after M rounds, or on Ctrl-C, and then archives a new run with the monitoring
history, rendered by papermill like any other run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from incident_lab.archive.execute import RunOutcome, run_investigation
from incident_lab.archive.store import Archive, slugify
from incident_lab.exceptions import ArchiveError
from incident_lab.investigation.history import hypothesis_key
from incident_lab.investigation.notebook_format import Recorded
from incident_lab.investigation.params import resolve
from incident_lab.investigation.state import Investigation
from incident_lab.registry import Registry
from incident_lab.result import Result, format_time, utc_now
from incident_lab.verdict import Verdict
from incident_lab.wording import hypothesis_letter


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
    values = archive.latest_readable(folder).incident
    values["targets"] = {**values.get("targets", {}), **targets}
    return Investigation(resolve(values, registry), archive.history(folder), registry)


def round_line(number: int, results: list[Result], previous: list[Result] | None) -> str:
    verdicts = "  ".join(f"{hypothesis_letter(i)} {r.label}" for i, r in enumerate(results))
    changes = [
        f"{hypothesis_letter(i)} {before.label} → {after.label}"
        for i, (before, after) in enumerate(zip(previous or [], results, strict=False))
        if before.verdict != after.verdict
    ]
    at = min(r.started_at for r in results)[11:19]
    return f"round {number}  {at} UTC  {verdicts}" + (f"  (changed: {', '.join(changes)})" if changes else "")


def is_clear(investigation: Investigation) -> bool:
    """Whether the latest round shows the incident clear: no hypothesis holds, something was
    refuted, and every hypothesis not refuted is one never confirmed during the incident (a
    probe that cannot tell, say, for want of a migration table). A hypothesis once
    confirmed must be refuted: its probe going blind is not the incident clearing."""
    confirmed = set(investigation.with_current().confirmations())
    results = investigation.results
    if not results or any(r.verdict is Verdict.TRUE for r in results):
        return False
    unknown = [r for r in results if r.verdict is Verdict.INCONCLUSIVE]
    return len(unknown) < len(results) and not any(hypothesis_key(r) in confirmed for r in unknown)


def watch(
    investigation: Investigation,
    archive: Archive,
    *,
    every_seconds: float,
    until_clear: int,
    max_rounds: int,
    say: Callable[[str], None] = print,
) -> WatchOutcome:
    investigation.set_status("Monitoring")
    previous: list[Result] | None = None
    clear_streak = rounds = 0
    interrupted = False
    try:
        while rounds < max_rounds:
            rounds += 1
            investigation.run(f"watch round {rounds}")
            results = investigation.results
            say(round_line(rounds, results, previous))
            previous = results
            clear_streak = clear_streak + 1 if is_clear(investigation) else 0
            if clear_streak >= until_clear or rounds >= max_rounds:
                break
            time.sleep(every_seconds)
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: archiving what was seen so far")
    cleared = clear_streak >= until_clear
    if cleared:
        say(
            f"every hypothesis has been False (or, never confirmed, Inconclusive) for {clear_streak} rounds "
            "in a row: consider status Resolved"
        )
    recorded = Recorded.of(investigation)
    try:
        archived = run_investigation(
            investigation.params.notebook_parameters(),
            archive,
            progress=False,
            registry=investigation.registry,
            recorded=recorded,
        )
    except ArchiveError as error:
        kept = keep_rounds(recorded, investigation.params.incident)
        raise ArchiveError(f"{error}; the rounds watched are kept in {kept}") from None
    return WatchOutcome(rounds, cleared, interrupted, archived)


def keep_rounds(recorded: Recorded, incident: str) -> Path:
    """Where the rounds of a watch that could not be archived are kept, not lost."""
    stamp = format_time(utc_now()).replace(":", "")
    path = Path(tempfile.gettempdir()) / f"incident_lab-watch-{slugify(incident)}-{stamp}.json"
    recorded.save(path)
    return path
