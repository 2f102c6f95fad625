"""One incident's investigation as it stands: its hypotheses, their latest results, and
what this session did, with the actions that change it. Nothing here displays anything:
the notebook's sections, the panel and `watch` read this state and render it.

`history` is what earlier archived runs found; `rounds` is what this session did
(probe runs, re-runs and status changes), in order. Whoever shows the state registers
with `on_change` and hears of every change, whichever route made it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from incident_lab.exceptions import UsageError
from incident_lab.investigation.history import IncidentHistory, Round
from incident_lab.investigation.params import STATUSES, Hypothesis, InvestigationParams, choose
from incident_lab.kinds import target_spec
from incident_lab.probe import run_probe
from incident_lab.registry import Registry
from incident_lab.result import Result
from incident_lab.wording import hypothesis_letter

# Probes of one investigation run side by side, so that a run costs about its slowest
# probe; but no more than this many at once on one target, which is in trouble already.
MAX_PROBES_AT_ONCE = 16
MAX_PROBES_PER_TARGET = 4

Listener = Callable[[], None]


class Investigation:
    def __init__(
        self,
        params: InvestigationParams,
        history: IncidentHistory,
        registry: Registry,
    ) -> None:
        self.params = params
        self.history = history
        self.registry = registry
        self.results: list[Result] = []
        self.rounds: list[Round] = []
        self._listeners: list[Listener] = []
        self._per_target: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    # Listening

    def on_change(self, listener: Listener) -> None:
        """Call `listener` after every change of results, rounds or status."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # Running

    def _target_slot(self, name: str) -> threading.BoundedSemaphore:
        with self._lock:
            return self._per_target.setdefault(name, threading.BoundedSemaphore(MAX_PROBES_PER_TARGET))

    def run_hypothesis(self, index: int) -> Result:
        """Test one hypothesis now; failures are inconclusive results, never exceptions.
        Records nothing: the caller decides which round the result belongs to."""
        hypothesis = self.params.hypotheses[index]
        probe = self.registry.get(hypothesis.probe)
        spec = target_spec(
            hypothesis.target, self.params.targets[hypothesis.target], self.registry.kind_names
        )
        target = self.registry.kind(probe.target_kind).target(spec.reference)
        with self._target_slot(hypothesis.target):
            return run_probe(
                probe, target, hypothesis.params, hypothesis=hypothesis.title, target_name=hypothesis.target
            )

    def run_all(self) -> list[Result]:
        """Test every hypothesis once, side by side (see `MAX_PROBES_AT_ONCE`), in order."""
        count = len(self.params.hypotheses)
        if count == 0:
            return []
        with ThreadPoolExecutor(min(count, MAX_PROBES_AT_ONCE), thread_name_prefix="incident_lab") as pool:
            return list(pool.map(self.run_hypothesis, range(count)))

    def run(self, label: str = "notebook run") -> list[Result]:
        """Test every hypothesis and record the results as one round."""
        self.record_all(self.run_all(), label)
        return self.results

    def rerun(self, index: int) -> Result:
        """Test one hypothesis again and record it as a round of its own."""
        result = self.run_hypothesis(index)
        self.record(index, result)
        return result

    # Recording

    def take(self, results: list[Result], rounds: list[Round]) -> None:
        """Take results and rounds recorded elsewhere (by `watch` or a panel) as this session's."""
        self.results = list(results)
        self.rounds = list(rounds)
        self._changed()

    def record(self, index: int, result: Result) -> None:
        if len(self.results) != len(self.params.hypotheses):
            raise UsageError("run the investigation once before re-running one hypothesis")
        self.results[index] = result
        self.rounds.append(Round(f"re-run of {hypothesis_letter(index)}", [result], self.params.status))
        self._changed()

    def record_all(self, results: list[Result], label: str) -> None:
        self.results = list(results)
        self.rounds.append(Round(label, list(results), self.params.status))
        self._changed()

    def set_status(self, status: str) -> None:
        """Change the incident's status; the change goes on the timeline."""
        chosen = choose(status, STATUSES, "status")
        if chosen == self.params.status:
            return
        self.params = replace(self.params, status=chosen)
        self.rounds.append(Round("status", [], self.params.status))
        self._changed()

    # Reading

    @property
    def hypotheses(self) -> tuple[Hypothesis, ...]:
        return self.params.hypotheses

    def with_current(self) -> IncidentHistory:
        """The incident's history, this session's rounds included."""
        return self.history.then(*self.rounds)
