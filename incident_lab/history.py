"""What earlier runs of an incident found: the timeline and the metrics over time.

A run's `results.json` holds its results and, for monitoring runs, every round's
results; this module reads them back and compares verdicts across time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident_lab.result import Result

RUN_PREFIX = "run-"


@dataclass
class Round:
    """One pass over the hypotheses: a notebook run, or one round of monitoring."""

    label: str
    results: list[Result]
    status: str = ""


@dataclass
class TimelineEntry:
    at: str
    text: str
    kind: str  # "run", "verdict", "status"
    verdict: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "kind": self.kind, "text": self.text, "verdict": self.verdict}


@dataclass
class IncidentHistory:
    rounds: list[Round] = field(default_factory=list)

    def then(self, round_: Round) -> IncidentHistory:
        return IncidentHistory([*self.rounds, round_])

    def timeline(self) -> list[TimelineEntry]:
        entries: list[TimelineEntry] = []
        last_verdict: dict[tuple[str, str, str], bool | None] = {}
        last_status = ""
        for round_ in self.rounds:
            if not round_.results:
                continue
            at = min(result.started_at for result in round_.results)
            if round_.status and round_.status != last_status:
                if last_status:
                    entries.append(TimelineEntry(at, f"Status {last_status} → {round_.status}", "status"))
                last_status = round_.status
            counts = {
                label: sum(r.label == label for r in round_.results)
                for label in ("True", "False", "Inconclusive")
            }
            entries.append(
                TimelineEntry(
                    at,
                    f"{round_.label}: {len(round_.results)} hypotheses tested — "
                    + ", ".join(f"{count} {label}" for label, count in counts.items() if count),
                    "run",
                )
            )
            for result in round_.results:
                key = (result.probe, result.target, result.hypothesis)
                if key in last_verdict and last_verdict[key] != result.verdict:
                    before = {True: "True", False: "False", None: "Inconclusive"}[last_verdict[key]]
                    entries.append(
                        TimelineEntry(
                            result.started_at,
                            f"{result.hypothesis}: {before} → {result.label}",
                            "verdict",
                            result.verdict,
                        )
                    )
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


def run_folders(incident_dir: Path) -> list[Path]:
    if not incident_dir.is_dir():
        return []
    return sorted(p for p in incident_dir.iterdir() if p.name.startswith(RUN_PREFIX) and p.is_dir())


def rounds_of(document: dict[str, Any], run_name: str) -> list[Round]:
    """The rounds a results.json records: its monitoring rounds, then its final results."""
    status = str(document.get("incident", {}).get("status", ""))
    rounds = [
        Round(
            f"{run_name} round {number}",
            [Result.from_dict(r) for r in item["results"]],
            item.get("status", status),
        )
        for number, item in enumerate(document.get("rounds", []), start=1)
    ]
    if not rounds:
        rounds.append(Round(run_name, [Result.from_dict(r) for r in document.get("results", [])], status))
    return rounds


def load_history(incident_dir: str | Path | None) -> IncidentHistory:
    if not incident_dir:
        return IncidentHistory()
    rounds: list[Round] = []
    for folder in run_folders(Path(incident_dir)):
        path = folder / "results.json"
        if path.exists():
            rounds += rounds_of(json.loads(path.read_text()), folder.name)
    return IncidentHistory(rounds)


def history_of(rounds: Iterable[Round]) -> IncidentHistory:
    return IncidentHistory(list(rounds))


def latest_results(history: IncidentHistory) -> Sequence[Result]:
    return history.rounds[-1].results if history.rounds else []
