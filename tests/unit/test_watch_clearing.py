"""When monitoring calls an incident clear: the causes confirmed are refuted, nothing holds."""

from dataclasses import replace

from incident_lab import Result, Verdict
from incident_lab.investigation.history import IncidentHistory
from incident_lab.investigation.params import resolve
from incident_lab.investigation.state import Investigation
from incident_lab.runner import default_registry
from incident_lab.watch import is_clear

REGISTRY = default_registry()
HYPOTHESES = [{"probe": "postgres.lock_contention"}, {"probe": "postgres.recent_migration"}]


def investigation() -> Investigation:
    values = {
        "incident": "x",
        "severity": "High",
        "targets": {"postgres": "service=shop"},
        "hypotheses": HYPOTHESES,
    }
    return Investigation(resolve(values, REGISTRY), IncidentHistory(), REGISTRY)


def answer(state: Investigation, index: int, verdict: Verdict, at: str) -> None:
    hypothesis = state.hypotheses[index]
    result = Result(hypothesis.probe, hypothesis.title, verdict, "", "", "service=shop", at, 1.0, {})
    state.record(index, replace(result))


def test_a_probe_with_nothing_to_read_does_not_keep_the_incident_open():
    state = investigation()
    answer(state, 0, Verdict.FALSE, "2026-11-28T00:00:01.000Z")
    answer(state, 1, Verdict.INCONCLUSIVE, "2026-11-28T00:00:01.000Z")  # no migration table
    assert is_clear(state)


def test_a_cause_once_confirmed_must_be_refuted_not_go_blind():
    state = investigation()
    answer(state, 0, Verdict.TRUE, "2026-11-28T00:00:01.000Z")
    answer(state, 1, Verdict.FALSE, "2026-11-28T00:00:01.000Z")
    assert not is_clear(state)
    answer(state, 0, Verdict.INCONCLUSIVE, "2026-11-28T00:01:01.000Z")  # the server went down
    assert not is_clear(state)
    answer(state, 0, Verdict.FALSE, "2026-11-28T00:02:01.000Z")
    assert is_clear(state)


def test_nothing_refuted_is_nothing_clear():
    state = investigation()
    answer(state, 0, Verdict.INCONCLUSIVE, "2026-11-28T00:00:01.000Z")
    answer(state, 1, Verdict.INCONCLUSIVE, "2026-11-28T00:00:01.000Z")
    assert not is_clear(state)
