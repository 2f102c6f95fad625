"""What an incident's probes found over time: the timeline and the metrics history.

A round is one pass of probes (a notebook run, a monitoring round, a re-run from the
panel) or a status change. A run's `results.json` records its rounds; this module
reads every run of an incident back and compares verdicts across time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident_lab.result import Result, format_time, utc_now

RUN_PREFIX = "run-"
VERDICT_LABELS = {True: "True", False: "False", None: "Inconclusive"}


@dataclass
class Round:
    """Probe results taken together, or (with no results) a change of status."""

    label: str
    results: list[Result]
    status: str = ""
    at: str = field(default_factory=lambda: format_time(utc_now()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "status": self.status,
            "at": self.at,
            "results": [result.to_dict() for result in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Round:
        results = [Result.from_dict(item) for item in data.get("results", [])]
        at = data.get("at") or (min(r.started_at for r in results) if results else "")
        return cls(str(data.get("label", "")), results, str(data.get("status", "")), at)


@dataclass
class TimelineEntry:
    at: str
    text: str
    kind: str  # "run", "verdict" or "status"
    verdict: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "kind": self.kind, "text": self.text, "verdict": self.verdict}


@dataclass
class IncidentHistory:
    rounds: list[Round] = field(default_factory=list)

    def then(self, *rounds: Round) -> IncidentHistory:
        return IncidentHistory([*self.rounds, *rounds])

    def timeline(self) -> list[TimelineEntry]:
        entries: list[TimelineEntry] = []
        last_verdict: dict[tuple[str, str, str], bool | None] = {}
        last_status = ""
        for round_ in self.rounds:
            if round_.status and round_.status != last_status:
                if last_status:
                    entries.append(
                        TimelineEntry(round_.at, f"Status {last_status} → {round_.status}", "status")
                    )
                last_status = round_.status
            if not round_.results:
                continue
            counts = {
                label: sum(r.label == label for r in round_.results) for label in VERDICT_LABELS.values()
            }
            tested = ", ".join(f"{count} {label}" for label, count in counts.items() if count)
            entries.append(
                TimelineEntry(round_.at, f"{round_.label}: {len(round_.results)} tested — {tested}", "run")
            )
            for result in round_.results:
                key = (result.probe, result.target, result.hypothesis)
                if key in last_verdict and last_verdict[key] != result.verdict:
                    change = f"{result.hypothesis}: {VERDICT_LABELS[last_verdict[key]]} → {result.label}"
                    entries.append(TimelineEntry(result.started_at, change, "verdict", result.verdict))
                last_verdict[key] = result.verdict
        return sorted(entries, key=lambda entry: entry.at)

    def metric_points(self) -> list[dict[str, Any]]:
        """One row per metric observation, for charts and metrics.csv."""
        return [
            {
                "round": round_.label,
                "hypothesis": result.hypothesis,
                "probe": result.probe,
                "target": result.target,
                "metric": metric.name,
                "value": metric.value,
                "unit": metric.unit,
                "at": metric.at,
            }
            for round_ in self.rounds
            for result in round_.results
            for metric in result.metrics
        ]


def is_run_name(name: str) -> bool:
    return name.startswith(RUN_PREFIX) and name[len(RUN_PREFIX) :].isdigit()


def run_folders(incident_dir: Path) -> list[Path]:
    if not incident_dir.is_dir():
        return []
    runs = [p for p in incident_dir.iterdir() if p.is_dir() and is_run_name(p.name)]
    return sorted(runs, key=lambda p: int(p.name.removeprefix(RUN_PREFIX)))  # run-1000 after run-999


def rounds_of(document: Mapping[str, Any], run_name: str) -> list[Round]:
    """The rounds a results.json records, or its results as one round named after the run."""
    if document.get("rounds"):
        return [Round.from_dict(item) for item in document["rounds"]]
    results = [Result.from_dict(item) for item in document.get("results", [])]
    status = str(document.get("incident", {}).get("status", ""))
    at = min((r.started_at for r in results), default=str(document.get("started_at", "")))
    return [Round(run_name, results, status, at)]


def load_history(incident_dir: str | Path | None) -> IncidentHistory:
    if not incident_dir:
        return IncidentHistory()
    rounds: list[Round] = []
    for folder in run_folders(Path(incident_dir)):
        path = folder / "results.json"
        if path.exists():
            rounds += rounds_of(json.loads(path.read_text()), folder.name)
    return IncidentHistory(rounds)
