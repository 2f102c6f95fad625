"""What an incident's probes found over time: the timeline and the metrics history.

A round is one pass of probes (a notebook run, a monitoring round, a re-run from the
panel) or a status change. A run's `results.json` records its rounds; the archive
reads every run of an incident back (`rounds_of`) and this module compares verdicts
across time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from incident_lab.result import Result, format_time, utc_now
from incident_lab.verdict import Verdict, count_verdicts


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
    verdict: Verdict | None = None

    def to_dict(self) -> dict[str, Any]:
        verdict = self.verdict.json if self.verdict is not None else None
        return {"at": self.at, "kind": self.kind, "text": self.text, "verdict": verdict}


@dataclass
class IncidentHistory:
    rounds: list[Round] = field(default_factory=list)

    def then(self, *rounds: Round) -> IncidentHistory:
        return IncidentHistory([*self.rounds, *rounds])

    def timeline(self) -> list[TimelineEntry]:
        entries: list[TimelineEntry] = []
        last_verdict: dict[tuple[str, str, str], Verdict] = {}
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
            counts = count_verdicts(r.verdict for r in round_.results)
            tested = ", ".join(f"{count} {label}" for label, count in counts.items() if count)
            entries.append(
                TimelineEntry(round_.at, f"{round_.label}: {len(round_.results)} tested — {tested}", "run")
            )
            for result in round_.results:
                key = (result.probe, result.target, result.hypothesis)
                if key in last_verdict and last_verdict[key] != result.verdict:
                    change = f"{result.hypothesis}: {last_verdict[key].label} → {result.label}"
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


def rounds_of(document: Mapping[str, Any], run_name: str) -> list[Round]:
    """The rounds a results.json records, or its results as one round named after the run."""
    if document.get("rounds"):
        return [Round.from_dict(item) for item in document["rounds"]]
    results = [Result.from_dict(item) for item in document.get("results", [])]
    status = str(document.get("incident", {}).get("status", ""))
    at = min((r.started_at for r in results), default=str(document.get("started_at", "")))
    return [Round(run_name, results, status, at)]
