"""One incident's investigation as it stands: its hypotheses, their latest results, the
queries run along the way, and what this session did, with the actions that change it.
Nothing here displays anything: the notebook's sections, the panel and `watch` read
this state and render it.

`history` is what earlier archived runs found; `rounds` is what this session did
(probe runs, re-runs, status changes, hypotheses added, parameters changed, queries),
in order. Whoever shows the state registers with `on_change` and hears of every
change, whichever route made it, in the thread that made it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import Any

from incident_lab.exceptions import UsageError
from incident_lab.investigation.alerts import alert_rounds
from incident_lab.investigation.history import IncidentHistory, Round
from incident_lab.investigation.params import (
    STATUSES,
    Hypothesis,
    InvestigationParams,
    choose,
    with_hypothesis,
    with_probe_params,
)
from incident_lab.kinds import Target, target_spec
from incident_lab.probe import Probe, attempt, describe_error, run_probe
from incident_lab.registry import Registry
from incident_lab.result import QueryRecord, Result, Table, format_time, utc_now
from incident_lab.wording import hypothesis_letter, plural

# Probes of one investigation run side by side, so that a run costs about its slowest
# probe; but no more than this many at once on one target, which is in trouble already.
MAX_PROBES_PER_TARGET = 4
QUERY_MAX_ROWS = 500
QUERY_BUDGET_SECONDS = 10.0
NOTEBOOK_CELL = "a notebook cell"


@dataclass(frozen=True)
class Change:
    """What changed: `result` (of hypothesis `index`), `hypothesis` (one added, at `index`),
    `params` (of hypothesis `index`), `status`, `query`, or `all` (results taken at once)."""

    what: str
    index: int | None = None


Listener = Callable[[Change], None]


class Investigation:
    def __init__(self, params: InvestigationParams, history: IncidentHistory, registry: Registry) -> None:
        self.params = params
        self.history = history
        self.registry = registry
        # The alert that opened the incident starts its timeline, at the alert's own time.
        self.rounds: list[Round] = alert_rounds(params.alert, history)
        self.queries: list[QueryRecord] = []
        self._latest: list[Result | None] = [None] * len(params.hypotheses)
        self._listeners: list[Listener] = []
        self._per_target: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    # Listening

    def on_change(self, listener: Listener) -> None:
        """Call `listener` after every change of results, hypotheses, rounds or status."""
        self._listeners.append(listener)

    def _changed(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)

    # Reading

    @property
    def hypotheses(self) -> tuple[Hypothesis, ...]:
        return self.params.hypotheses

    def latest(self, index: int) -> Result | None:
        """Hypothesis `index`'s latest result; None while it has not been tested."""
        return self._latest[index]

    @property
    def results(self) -> list[Result]:
        """The latest result of every hypothesis tested so far, in the hypotheses' order."""
        return [result for result in self._latest if result is not None]

    @property
    def latest_results(self) -> list[Result | None]:
        """Each hypothesis's latest result, None where it has not been tested."""
        return list(self._latest)

    def with_current(self) -> IncidentHistory:
        """The incident's history, this session's rounds included."""
        return self.history.then(*self.rounds)

    # Running

    def _target(self, name: str, kind: str) -> Target:
        spec = target_spec(name, self.params.targets[name], self.registry.kind_names)
        return self.registry.kind(kind).target(spec.reference, name)

    def _target_slot(self, name: str) -> threading.BoundedSemaphore:
        with self._lock:
            return self._per_target.setdefault(name, threading.BoundedSemaphore(MAX_PROBES_PER_TARGET))

    def run_hypothesis(self, index: int) -> Result:
        """Test one hypothesis now; failures are inconclusive results, never exceptions.
        Records nothing: the caller decides which round the result belongs to."""
        hypothesis = self.params.hypotheses[index]
        probe = self.registry.get(hypothesis.probe)
        target = self._target(hypothesis.target, probe.target_kind)
        with self._target_slot(hypothesis.target):
            return run_probe(
                probe, target, hypothesis.params, hypothesis=hypothesis.title, target_name=hypothesis.target
            )

    def run(self, label: str = "notebook run") -> list[Result]:
        """Test every hypothesis side by side (at most `params.concurrency` at once) as one
        round; each result is recorded the moment its probe answers."""
        count = len(self.params.hypotheses)
        round_ = self.begin_round(label)
        if count:
            workers = min(count, self.params.concurrency)
            with ThreadPoolExecutor(workers, thread_name_prefix="incident_lab") as pool:
                futures = {pool.submit(self.run_hypothesis, index): index for index in range(count)}
                for future in as_completed(futures):
                    self.record(futures[future], future.result(), round_)
        order = {id(result): index for index, result in enumerate(self._latest)}
        round_.results.sort(key=lambda result: order.get(id(result), count))
        return self.results

    def rerun(self, index: int) -> Result:
        """Test one hypothesis again and record it as a round of its own."""
        result = self.run_hypothesis(index)
        self.record(index, result)
        return result

    # Recording

    def begin_round(self, label: str) -> Round:
        """A new round, to which results are recorded as they arrive."""
        round_ = Round(label, [], self.params.status)
        self.rounds.append(round_)
        return round_

    def record(self, index: int, result: Result, round_: Round | None = None) -> None:
        """Hypothesis `index`'s latest result, as part of `round_` (by default, a re-run of its own)."""
        if round_ is None:
            round_ = self.begin_round(f"re-run of {hypothesis_letter(index)}")
        round_.results.append(result)
        self._latest[index] = result
        self._changed(Change("result", index))

    def take(self, latest: list[Result | None], rounds: list[Round], queries: list[QueryRecord]) -> None:
        """Take what was recorded elsewhere (by `watch` or a panel) as this session's:
        `latest` holds each hypothesis's latest result, in the hypotheses' order."""
        self._latest = [*latest, *[None] * (len(self.params.hypotheses) - len(latest))]
        self.rounds = list(rounds)
        self.queries = list(queries)
        self._changed(Change("all"))

    def set_status(self, status: str) -> None:
        """Change the incident's status; the change goes on the timeline."""
        chosen = choose(status, STATUSES, "status")
        if chosen == self.params.status:
            return
        self.params = replace(self.params, status=chosen)
        self.rounds.append(Round("status", [], self.params.status))
        self._changed(Change("status"))

    def _note(self, text: str) -> None:
        self.rounds.append(Round("note", [], self.params.status, note=text))

    # Changing the hypotheses

    def add_probe(self, probe: Probe) -> None:
        """Register a probe defined in a notebook cell, so that hypotheses can use it."""
        self.registry.add(probe, NOTEBOOK_CELL)

    def add_hypothesis(
        self,
        title: str,
        probe: str | Probe,
        *,
        target: str = "",
        params: Mapping[str, Any] | None = None,
    ) -> int:
        """Add a hypothesis mid-incident (not yet tested) and return its index (the first one's,
        where it goes on several targets). `probe` is a probe id, or a probe defined in a
        notebook cell. Checked as the first ones were: a mistake is a `UsageError` and
        changes nothing."""
        if isinstance(probe, Probe):
            self.add_probe(probe)
            probe = probe.id
        hypothesis = Hypothesis(title=title, probe=probe, params=dict(params or {}), target=target)
        first = len(self.params.hypotheses)
        self.params = with_hypothesis(self.params, hypothesis, self.registry)
        for index in range(first, len(self.params.hypotheses)):
            self._latest.append(None)
            added = self.params.hypotheses[index]
            letter = hypothesis_letter(index)
            self._note(f"Hypothesis {letter} added: {added.title} ({added.probe} on {added.target})")
            self._changed(Change("hypothesis", index))
        return first

    def change_params(self, index: int, values: Mapping[str, Any]) -> None:
        """Replace hypothesis `index`'s probe parameters (checked first); the change goes on
        the timeline, and the verdict change it causes is told apart from the system's."""
        before = self.params.hypotheses[index].params
        self.params = with_probe_params(self.params, index, values, self.registry)
        after = self.params.hypotheses[index].params
        changes = [
            f"{name} {before.get(name, '(default)')} → {after.get(name, '(default)')}"
            for name in sorted(set(before) | set(after))
            if before.get(name) != after.get(name)
        ]
        if changes:
            self._note(f"{hypothesis_letter(index)}: {', '.join(changes)}")
            self._changed(Change("params", index))

    # Ad-hoc queries

    def query(
        self,
        target: str,
        statement: str,
        params: Mapping[str, Any] | None = None,
        *,
        title: str = "",
        hypothesis: str = "",
        max_rows: int = QUERY_MAX_ROWS,
    ) -> QueryRecord:
        """Run one read-only statement on a target through its kind's safe session and keep
        it as evidence (under `hypothesis`, a letter or a title, or under its own heading).
        An error (syntax, permission, a lock timeout) is recorded, never raised."""
        if target not in self.params.targets:
            raise UsageError(f"no target named {target!r} (targets: {', '.join(self.params.targets)})")
        spec = target_spec(target, self.params.targets[target], self.registry.kind_names)
        if not spec.kind:
            raise UsageError(f"target {target} has no known kind: name it {target}=KIND:REFERENCE")
        kind = self.registry.kind(spec.kind)
        opened = kind.target(spec.reference, target)
        started, clock = utc_now(), time.monotonic()
        tried = attempt(
            opened, None, QUERY_BUDGET_SECONDS, lambda s: kind.query(s, statement, params, max_rows)
        )
        error = None
        if tried.overran:
            error = f"timeout: no answer within {QUERY_BUDGET_SECONDS:g} s"
        elif tried.error is not None:
            error = describe_error(tried.error)
        rows = tried.value if isinstance(tried.value, Table) else Table("rows", (), ())
        record = QueryRecord(
            title=title or statement.strip().splitlines()[0][:80],
            statement=statement.strip(),
            target=opened.label,
            target_name=target,
            started_at=format_time(started),
            duration_ms=round((time.monotonic() - clock) * 1000, 1),
            rows=rows,
            error=error,
            hypothesis=self._hypothesis_title(hypothesis),
            params=dict(params or {}),
        )
        self.queries.append(record)
        outcome = (
            f"failed: {error.splitlines()[0]}" if error else plural(len(rows.rows) + rows.omitted, "row")
        )
        self._note(f"Query “{record.title}” on {target}: {outcome} ({record.duration_ms:.0f} ms)")
        self._changed(Change("query"))
        return record

    def _hypothesis_title(self, given: str) -> str:
        if not given:
            return ""
        for index, hypothesis in enumerate(self.params.hypotheses):
            if given in (hypothesis_letter(index), hypothesis.title):
                return hypothesis.title
        raise UsageError(f"no hypothesis {given!r}: give its letter or its title")
