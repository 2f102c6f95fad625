"""An archive written by the previous schema still reads: history, timeline and `show`."""

import json

from incident_lab.archive.store import MAX_RUN_JSON_BYTES, load_history
from incident_lab.cli import main
from incident_lab.verdict import Verdict

RESULT_V1 = {
    "probe": "postgres.lock_contention",
    "hypothesis": "Database lock contention",
    "verdict": True,
    "summary": "3 sessions wait behind pid 4242",
    "test": "SELECT …",
    "target": "service=shop",
    "started_at": "2026-11-28T00:00:05.000Z",
    "duration_ms": 20.0,
    "params": {},
    "evidence": [],
    "metrics": [],
    "error": None,
    "hints": [],
}


def write_v1_run(archive):
    run = archive / "2026-11-28-checkout-failing" / "run-001"
    run.mkdir(parents=True)
    document = {
        "incident": {
            "incident": "Checkout failing",
            "severity": "High",
            "status": "Investigating",
            "targets": {},
        },
        "outcome": "completed",
        "error": None,
        "results": [RESULT_V1],
        "timeline": [],
    }
    (run / "results.json").write_text(json.dumps(document))
    summary = {
        "incident": "Checkout failing",
        "finished_at": "2026-11-28T00:00:09.000Z",
        "outcome": "completed",
    }
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_a_schema_1_run_reads_back_as_history(tmp_path):
    run = write_v1_run(tmp_path)
    history = load_history(run.parent)
    (round_,) = history.rounds
    assert round_.label == "run-001" and round_.results[0].verdict is Verdict.TRUE
    assert history.timeline()[0].text == "run-001: 1 tested — 1 True"


def test_show_prints_a_schema_1_run(tmp_path, capsys):
    write_v1_run(tmp_path)
    assert main(["show", "Checkout failing", "--archive", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "Database lock contention" in shown and "True" in shown and "behind pid 4242" in shown


def test_a_results_file_above_the_limit_is_a_damaged_run_not_read(tmp_path, capsys):
    run = write_v1_run(tmp_path)
    with (run / "results.json").open("r+b") as handle:
        handle.truncate(MAX_RUN_JSON_BYTES + 1)  # sparse: nothing to write, and nothing may be read
    assert load_history(run.parent).rounds == []
    assert main(["show", "Checkout failing/run-001", "--archive", str(tmp_path)]) == 1  # as any damaged run
    assert "results.json is larger than 256 MiB" in capsys.readouterr().err
