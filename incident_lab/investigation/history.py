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

from incident_lab.result import Result, format_time, parse_time, utc_now
from incident_lab.verdict import Verdict, count_verdicts
from incident_lab.wording import seconds

HypothesisKey = tuple[str, str, str]  # probe, target label, hypothesis


def hypothesis_key(result: Result) -> HypothesisKey:
    """What identifies one hypothesis's results across rounds and runs."""
    return (result.probe, result.target, result.hypothesis)


@dataclass
class Round:
    """Probe results taken together; or, with no results, a change of status or an event
    of the investigation's own (`note`: a hypothesis added, parameters changed, a query)."""

    label: str
    results: list[Result]
    status: str = ""
    at: str = field(default_factory=lambda: format_time(utc_now()))
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "status": self.status,
            "at": self.at,
            "note": self.note,
            "results": [result.to_dict() for result in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Round:
        results = [Result.from_dict(item) for item in data.get("results", [])]
        at = data.get("at") or (min(r.started_at for r in results) if results else "")
        label, status, note = (str(data.get(name, "")) for name in ("label", "status", "note"))
        return cls(label, results, status, at, note)


@dataclass
class TimelineEntry:
    at: str
    text: str
    kind: str  # "run", "verdict", "cleared", "status" or "change"
    verdict: Verdict | None = None

    def to_dict(self) -> dict[str, Any]:
        verdict = self.verdict.json if self.verdict is not None else None
        return {"at": self.at, "kind": self.kind, "text": self.text, "verdict": verdict}


@dataclass(frozen=True)
class Confirmation:
    """The most recent result that confirmed a hypothesis, since when it had held, and when
    (if ever since) a later result no longer confirmed it."""

    result: Result
    since: str
    cleared_at: str | None


def changed_params(before: Result, after: Result) -> str:
    """`min_wait_seconds 0 → 300`, for the parameters that differ between two results."""
    names = sorted(set(before.params) | set(after.params))
    changed = [n for n in names if before.params.get(n) != after.params.get(n)]
    return ", ".join(f"{n} {before.params.get(n)!r} → {after.params.get(n)!r}" for n in changed)


def clock(at: str) -> str:
    return f"{at[11:19]} UTC"


@dataclass
class IncidentHistory:
    rounds: list[Round] = field(default_factory=list)

    def then(self, *rounds: Round) -> IncidentHistory:
        return IncidentHistory([*self.rounds, *rounds])

    def results(self) -> list[Result]:
        """Every result of every round, in the order taken."""
        return [result for round_ in self.rounds for result in round_.results]

    def timeline(self) -> list[TimelineEntry]:
        entries: list[TimelineEntry] = []
        last: dict[HypothesisKey, Result] = {}
        true_since: dict[HypothesisKey, str] = {}
        last_status = ""
        for round_ in self.rounds:
            if round_.status and round_.status != last_status:
                if last_status:
                    entries.append(
                        TimelineEntry(round_.at, f"Status {last_status} → {round_.status}", "status")
                    )
                last_status = round_.status
            if round_.note:
                entries.append(TimelineEntry(round_.at, round_.note, "change"))
            if not round_.results:
                continue
            counts = count_verdicts(r.verdict for r in round_.results)
            tested = ", ".join(f"{count} {label}" for label, count in counts.items() if count)
            entries.append(
                TimelineEntry(round_.at, f"{round_.label}: {len(round_.results)} tested — {tested}", "run")
            )
            for result in round_.results:
                entries += self._flip(last.get(hypothesis_key(result)), result, true_since)
                last[hypothesis_key(result)] = result
        return sorted(entries, key=lambda entry: entry.at)

    @staticmethod
    def _flip(
        before: Result | None, after: Result, true_since: dict[HypothesisKey, str]
    ) -> list[TimelineEntry]:
        """The entries one result adds: its verdict's change, and how long it took to clear.
        A change that follows a change of the probe's parameters is said to be one: a
        threshold moved is not the incident clearing or coming back."""
        key = hypothesis_key(after)
        moved = changed_params(before, after) if before is not None else ""
        if moved:
            true_since.pop(key, None)
        if after.verdict is Verdict.TRUE:
            true_since.setdefault(key, after.started_at)
        if before is None or before.verdict == after.verdict:
            return []
        change = f"{after.hypothesis}: {before.label} → {after.label}"
        if moved:
            change += f" after its parameters changed ({moved}), not a change in the system"
        entries = [TimelineEntry(after.started_at, change, "verdict", after.verdict)]
        if after.verdict is Verdict.FALSE and not moved and key in true_since:
            since = true_since.pop(key)
            took = (parse_time(after.started_at) - parse_time(since)).total_seconds()
            text = (
                f"{after.hypothesis}: cleared {seconds(took)} after it was first confirmed ({clock(since)})"
            )
            entries.append(TimelineEntry(after.started_at, text, "cleared", after.verdict))
        return entries

    def confirmations(self) -> dict[HypothesisKey, Confirmation]:
        """For each hypothesis ever confirmed: its latest confirming result, and when it cleared."""
        found: dict[HypothesisKey, Confirmation] = {}
        since: dict[HypothesisKey, str] = {}
        for result in self.results():
            key = hypothesis_key(result)
            if result.verdict is Verdict.TRUE:
                since.setdefault(key, result.started_at)
                found[key] = Confirmation(result, since[key], None)
            else:
                since.pop(key, None)
                known = found.get(key)
                # A False under other parameters (a threshold raised) is no clearing.
                if (
                    known is not None
                    and known.cleared_at is None
                    and result.verdict is Verdict.FALSE
                    and result.params == known.result.params
                ):
                    found[key] = Confirmation(known.result, known.since, result.started_at)
        return found

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
