"""The timeline: rounds, verdict flips and status changes, in time order."""

from dataclasses import replace

from incident_lab import Metric, Result, Verdict
from incident_lab.investigation.history import IncidentHistory, Round


def result(verdict, at, probe="postgres.lock_contention"):
    return Result(
        probe=probe,
        hypothesis="Lock contention",
        verdict=verdict,
        summary="…",
        test="",
        target="service=shop",
        started_at=at,
        duration_ms=1.0,
        params={},
    )


def test_flips_and_status_changes_are_entries_of_their_own():
    day = "2026-11-28T00:"
    history = IncidentHistory([
        Round("run-001", [result(Verdict.TRUE, f"{day}00:01.000Z")], "Investigating", f"{day}00:00.000Z"),
        Round("status", [], "Monitoring", f"{day}01:00.000Z"),
        Round("watch round 1", [result(Verdict.FALSE, f"{day}02:01.000Z")], "Monitoring", f"{day}02:00.000Z"),
        Round("watch round 2", [result(Verdict.FALSE, f"{day}03:01.000Z")], "Monitoring", f"{day}03:00.000Z"),
    ])  # fmt: skip
    entries = history.timeline()
    assert [(e.kind, e.text) for e in entries] == [
        ("run", "run-001: 1 tested — 1 True"),
        ("status", "Status Investigating → Monitoring"),
        ("run", "watch round 1: 1 tested — 1 False"),
        ("verdict", "Lock contention: True → False"),
        ("cleared", "Lock contention: cleared 2 min after it was first confirmed (00:00:01 UTC)"),
        ("run", "watch round 2: 1 tested — 1 False"),
    ]
    assert entries[3].to_dict()["verdict"] is False


def test_metric_points_carry_round_probe_and_time():
    waiting = Metric("waiting_sessions", 6, "sessions", "2026-11-28T00:00:01.500Z")
    measured = replace(result(Verdict.TRUE, "2026-11-28T00:00:01.000Z"), metrics=(waiting,))
    history = IncidentHistory([Round("run-001", [measured], "Investigating", "2026-11-28T00:00:00.000Z")])
    assert history.metric_points() == [
        {
            "round": "run-001",
            "hypothesis": "Lock contention",
            "probe": "postgres.lock_contention",
            "target": "service=shop",
            "metric": "waiting_sessions",
            "value": 6,
            "unit": "sessions",
            "at": "2026-11-28T00:00:01.500Z",
        }
    ]


def test_a_flip_after_a_parameter_change_says_so_and_is_no_clearing():
    day = "2026-11-28T00:"
    held = replace(result(Verdict.TRUE, f"{day}00:01.000Z"), params={"min_wait_seconds": 0.0})
    raised = replace(result(Verdict.FALSE, f"{day}01:01.000Z"), params={"min_wait_seconds": 300.0})
    history = IncidentHistory([
        Round("run-001", [held], "Investigating", f"{day}00:00.000Z"),
        Round("note", [], "Investigating", f"{day}00:30.000Z", note="A: min_wait_seconds 0.0 → 300.0"),
        Round("re-run of A", [raised], "Investigating", f"{day}01:00.000Z"),
    ])  # fmt: skip
    texts = [(e.kind, e.text) for e in history.timeline()]
    assert ("change", "A: min_wait_seconds 0.0 → 300.0") in texts
    flip = next(text for kind, text in texts if kind == "verdict")
    assert flip == (
        "Lock contention: True → False after its parameters changed "
        "(min_wait_seconds 0.0 → 300.0), not a change in the system"
    )
    assert not [kind for kind, _ in texts if kind == "cleared"]


def test_confirmations_keep_the_last_confirming_result_and_when_it_cleared():
    day = "2026-11-28T00:"
    first, second = result(Verdict.TRUE, f"{day}00:01.000Z"), result(Verdict.TRUE, f"{day}01:01.000Z")
    cleared = result(Verdict.FALSE, f"{day}02:01.000Z")
    history = IncidentHistory([Round("r", [first]), Round("r", [second]), Round("r", [cleared])])
    (confirmation,) = history.confirmations().values()
    assert confirmation.result is second and confirmation.since == first.started_at
    assert confirmation.cleared_at == cleared.started_at


def test_a_false_under_raised_thresholds_is_no_clearing():
    day = "2026-11-28T00:"
    held = replace(result(Verdict.TRUE, f"{day}00:01.000Z"), params={"min_wait_seconds": 0.0})
    raised = replace(result(Verdict.FALSE, f"{day}01:01.000Z"), params={"min_wait_seconds": 300.0})
    (confirmation,) = IncidentHistory([Round("r", [held]), Round("r", [raised])]).confirmations().values()
    assert confirmation.result is held and confirmation.cleared_at is None
