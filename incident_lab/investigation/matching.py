"""Which failure patterns an investigation's results match, now and over the incident.

Pure code over results, never a guess. Against the latest result of every hypothesis,
each pattern of the catalogue is

- matched: its evidence holds (every clue, or with `match: any` one of them), each
  clue citing the result and what in it matched;
- ruled out: a deciding probe's result refutes it (its verdict does not count, or the
  verdict counts but the evidence it looks at says otherwise); with `match: any`, every
  clue that could be checked refutes it;
- open: not enough evidence (a deciding probe has not run or was inconclusive, or its
  result lacks what the pattern looks at).

Over the incident's rounds (earlier runs and this session's), a pattern that matched
once but not now is `matched earlier`, keeping the evidence of its last match, when it
first matched and when it was ruled out since, as a confirmed hypothesis keeps its
evidence after it clears. `results.json` stores the matches (`PatternMatch.to_dict`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from incident_lab.failure_patterns import Check, Clue, Pattern
from incident_lab.investigation.history import HypothesisKey, IncidentHistory, clock, hypothesis_key
from incident_lab.investigation.state import Investigation
from incident_lab.redaction import scrub_value
from incident_lab.result import Result
from incident_lab.verdict import Verdict


class Status(StrEnum):
    MATCHED = "matched"
    EARLIER = "matched earlier"
    RULED_OUT = "ruled out"
    OPEN = "open"


# How a list of matches is read: what holds first, what is unknown last.
ORDER = {Status.MATCHED: 0, Status.EARLIER: 1, Status.RULED_OUT: 2, Status.OPEN: 3}


@dataclass(frozen=True)
class Citation:
    """One result a match (or a ruling-out) rests on, and what in it decided."""

    probe: str
    hypothesis: str
    target: str
    verdict: Verdict
    at: str
    summary: str
    detail: str  # the evidence that held, or why it did not

    def text(self) -> str:
        """`postgres.lock_contention on service=shop (True at 10:02:03 UTC): root_blockers: …`"""
        return f"{self.probe} on {self.target} ({self.verdict.label} at {clock(self.at)}): {self.detail}"

    @classmethod
    def of(cls, result: Result, detail: str) -> Citation:
        return cls(
            result.probe,
            result.hypothesis,
            result.target,
            result.verdict,
            result.started_at,
            result.summary,
            detail or result.summary,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "hypothesis": self.hypothesis,
            "target": self.target,
            "verdict": self.verdict.json,
            "at": self.at,
            "summary": self.summary,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Citation:
        return cls(
            str(data["probe"]),
            str(data["hypothesis"]),
            str(data["target"]),
            Verdict.from_json(data["verdict"]),
            str(data["at"]),
            str(data["summary"]),
            str(data["detail"]),
        )


@dataclass(frozen=True)
class PatternMatch:
    """One pattern's standing in an investigation."""

    pattern: str
    title: str
    status: Status
    evidence: tuple[Citation, ...] = ()  # what matched; for a ruled-out pattern, what refuted it
    reason: str = ""  # why it is ruled out or open (or, matched earlier, how it stands now)
    matched_at: str | None = None  # when it first matched
    cleared_at: str | None = None  # when, after its last match, it was ruled out

    @property
    def matched_ever(self) -> bool:
        return self.status in (Status.MATCHED, Status.EARLIER)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "pattern": self.pattern,
            "title": self.title,
            "status": str(self.status),
            "evidence": [citation.to_dict() for citation in self.evidence],
            "reason": self.reason,
            "matched_at": self.matched_at,
            "cleared_at": self.cleared_at,
        }
        return scrub_value(data)  # type: ignore[return-value]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatternMatch:
        return cls(
            str(data["pattern"]),
            str(data["title"]),
            Status(data["status"]),
            tuple(Citation.from_dict(item) for item in data.get("evidence", ())),
            str(data.get("reason", "")),
            data.get("matched_at"),
            data.get("cleared_at"),
        )


@dataclass(frozen=True)
class ClueOutcome:
    state: Check
    citations: tuple[Citation, ...]
    tested: bool  # whether the clue's probe has a result at all


def check_clue(clue: Clue, results: Sequence[Result]) -> ClueOutcome:
    """A clue against every result of its probe (one per target it ran on): it holds if it
    holds for one, fails if it fails for all, and is unknown otherwise."""
    relevant = [result for result in results if result.probe == clue.probe]
    if not relevant:
        return ClueOutcome(Check.UNKNOWN, (), tested=False)
    checked = [(result, clue.check(result)) for result in relevant]

    def cite(*states: Check) -> tuple[Citation, ...]:
        return tuple(Citation.of(result, c.detail) for result, c in checked if c.state in states)

    if held := cite(Check.HOLDS):
        return ClueOutcome(Check.HOLDS, held, tested=True)
    if all(c.state is Check.FAILS for _, c in checked):
        return ClueOutcome(Check.FAILS, cite(Check.FAILS), tested=True)
    return ClueOutcome(Check.UNKNOWN, cite(Check.UNKNOWN), tested=True)


def evaluate(pattern: Pattern, results: Sequence[Result]) -> tuple[Status, tuple[Citation, ...], str]:
    """A pattern against the latest results: matched, ruled out or open, with what decided."""
    outcomes = [(clue, check_clue(clue, results)) for clue in pattern.evidence]
    held = [o for _, o in outcomes if o.state is Check.HOLDS]
    failed = [o for _, o in outcomes if o.state is Check.FAILS]
    unknown = [(clue, o) for clue, o in outcomes if o.state is Check.UNKNOWN]
    if (held and pattern.match == "any") or len(held) == len(outcomes):
        return Status.MATCHED, tuple(c for o in held for c in o.citations), ""
    decided = failed and (pattern.match == "all" or not any(o.tested for _, o in unknown))
    if decided:
        citations = tuple(c for o in failed for c in o.citations)
        return Status.RULED_OUT, citations, "; ".join(c.text() for c in citations)
    reasons = [
        "; ".join(c.text() for c in o.citations) if o.tested else f"{clue.probe} has not run"
        for clue, o in unknown
    ]
    return Status.OPEN, tuple(c for _, o in unknown for c in o.citations), "; ".join(reasons)


@dataclass
class _Episode:
    """What the incident's rounds say of one pattern: when it first matched, the evidence of
    its last match, and when it was ruled out after that."""

    first: str | None = None
    last: tuple[Citation, ...] = ()
    cleared: str | None = None


def _over_time(patterns: Sequence[Pattern], history: IncidentHistory) -> dict[str, _Episode]:
    episodes = {pattern.id: _Episode() for pattern in patterns}
    latest: dict[HypothesisKey, Result] = {}
    for round_ in history.rounds:
        if not round_.results:
            continue
        for result in round_.results:
            latest[hypothesis_key(result)] = result
        standing = list(latest.values())
        for pattern in patterns:
            status, citations, _ = evaluate(pattern, standing)
            episode = episodes[pattern.id]
            if status is Status.MATCHED:
                episode.first = episode.first or min(c.at for c in citations)
                episode.last, episode.cleared = citations, None
            elif status is Status.RULED_OUT and episode.last and episode.cleared is None:
                episode.cleared = min(r.started_at for r in round_.results)
    return episodes


def match_patterns(
    patterns: Iterable[Pattern], results: Sequence[Result], history: IncidentHistory | None = None
) -> list[PatternMatch]:
    """Every pattern's standing given the latest `results` and the incident's `history`
    (its rounds, this session's included), matched first, then matched earlier, ruled
    out and open, each group in the catalogue's order."""
    chosen = list(patterns)
    episodes = _over_time(chosen, history or IncidentHistory())
    matches = []
    for pattern in chosen:
        status, citations, reason = evaluate(pattern, results)
        episode = episodes[pattern.id]
        if status is Status.MATCHED:
            first = episode.first or min(c.at for c in citations)
            matches.append(PatternMatch(pattern.id, pattern.title, status, citations, "", first))
        elif episode.last:
            now = f"now {status}" + (f": {reason}" if reason else "")
            matches.append(
                PatternMatch(
                    pattern.id,
                    pattern.title,
                    Status.EARLIER,
                    episode.last,
                    now,
                    matched_at=episode.first,
                    cleared_at=episode.cleared,
                )
            )
        else:
            matches.append(PatternMatch(pattern.id, pattern.title, status, citations, reason))
    order = {pattern.id: index for index, pattern in enumerate(chosen)}
    return sorted(matches, key=lambda match: (ORDER[match.status], order[match.pattern]))


def investigation_matches(investigation: Investigation) -> list[PatternMatch]:
    """The investigation's patterns as it stands: its latest results, its whole history."""
    return match_patterns(
        investigation.registry.patterns, investigation.results, investigation.with_current()
    )
