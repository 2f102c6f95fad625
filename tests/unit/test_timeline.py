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
