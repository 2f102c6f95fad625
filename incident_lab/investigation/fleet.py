"""One hypothesis across a fleet: the same hypothesis on several targets (shards, regions,
a primary and its replicas), read as a matrix of targets by hypotheses, and which targets
differ from the others: "shard7 is the only one where it holds"."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from incident_lab.investigation.params import Hypothesis
from incident_lab.result import Result
from incident_lab.verdict import Verdict


@dataclass(frozen=True)
class FleetRow:
    """One hypothesis on each of its targets: their latest results (None: not tested yet),
    the verdict most of them share, and the targets that differ from it."""

    title: str
    probe: str
    cells: Mapping[str, Result | None]
    indices: Mapping[str, int]  # each target's hypothesis, by its place in the investigation
    majority: Verdict | None
    outliers: tuple[str, ...]

    @classmethod
    def of(
        cls, title: str, probe: str, cells: Mapping[str, Result | None], indices: Mapping[str, int]
    ) -> FleetRow:
        tested = {target: result.verdict for target, result in cells.items() if result is not None}
        majority, outliers = odd_ones(tested)
        return cls(title, probe, cells, indices, majority, outliers)

    def sentence(self) -> str:
        """The odd ones out, as people say it; empty when the fleet agrees (or cannot tell)."""
        if not self.outliers or self.majority is None:
            return ""
        others = sum(1 for r in self.cells.values() if r is not None and r.verdict is self.majority)
        verdicts = {self.cells[target].verdict for target in self.outliers}  # type: ignore[union-attr]
        said = verdicts.pop().label if len(verdicts) == 1 else "something else"
        if len(self.outliers) == 1:
            (target,) = self.outliers
            return (
                f"{target} is the only one where “{self.title}” is {said} "
                f"(the other {others} are {self.majority.label})"
            )
        return (
            f"{', '.join(self.outliers)} differ from the other {others}: “{self.title}” is {said} there, "
            f"{self.majority.label} elsewhere"
        )


def odd_ones(verdicts: Mapping[str, Verdict]) -> tuple[Verdict | None, tuple[str, ...]]:
    """The verdict most targets share, and the targets that differ from it, when they are
    fewer than a third of the fleet (otherwise the fleet is split, not one shard sick)."""
    if len(verdicts) < 2:
        return None, ()
    ranked = Counter(verdicts.values()).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, ()
    majority = ranked[0][0]
    differing = tuple(target for target, verdict in verdicts.items() if verdict is not majority)
    if len(differing) * 3 > len(verdicts):
        return majority, ()
    return majority, differing


def fleet_rows(hypotheses: Sequence[Hypothesis], latest: Sequence[Result | None]) -> list[FleetRow]:
    """A row for each hypothesis that the investigation tests on two targets or more."""
    grouped: dict[tuple[str, str], dict[str, int]] = {}
    for index, hypothesis in enumerate(hypotheses):
        grouped.setdefault((hypothesis.probe, hypothesis.title), {})[hypothesis.target] = index
    rows = []
    for (probe, title), indices in grouped.items():
        if len(indices) < 2:
            continue
        cells = {target: latest[index] if index < len(latest) else None for target, index in indices.items()}
        rows.append(FleetRow.of(title, probe, cells, indices))
    return rows
