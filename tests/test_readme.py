"""The README is the user's manual: its commands are the ones CI and the tests run,
and its worked probe example works."""

import re
import time
from pathlib import Path

from incident_lab import run, scenarios
from incident_lab.registry import load_registry
from incident_lab.verdict import Verdict

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def code_blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = next(block.strip() for block in code_blocks("sh") if "pytest" in block)
    assert test_command in ci.splitlines()


def test_the_readme_demo_command_is_install_then_demo():
    assert code_blocks("sh")[0].strip() == (
        "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/incident-lab demo"
    )


def test_the_worked_probe_example_confirms_a_slow_query_and_refutes_a_quiet_database(tmp_path, database):
    example = next(block for block in code_blocks("python") if "@probe(" in block)
    (tmp_path / "slow_queries.py").write_text(example)
    registry = load_registry([tmp_path])
    quiet = run("team.slow_queries", database, {"min_seconds": 1}, registry=registry)
    assert quiet.verdict is Verdict.FALSE
    with scenarios.sessions(database) as opened:
        sleeper = scenarios.connect(database)
        opened.append(sleeper)
        scenarios.send_without_waiting(sleeper, "SELECT pg_sleep(30)")
        deadline = time.monotonic() + 10
        while (
            slow := run("team.slow_queries", database, {"min_seconds": 0.3}, registry=registry)
        ).verdict is not Verdict.TRUE:
            assert time.monotonic() < deadline, slow.summary
            time.sleep(0.1)
    assert "pg_sleep(30)" in slow.table("slow_queries").records()[0]["query"]


def test_the_notebook_snippet_adds_a_hypothesis_and_keeps_a_query(database, tmp_path):
    from incident_lab.notebook import InvestigationNotebook

    snippet = next(block for block in code_blocks("python") if "investigation.add_hypothesis" in block)
    investigation = InvestigationNotebook.open(
        incident="Checkout failing",
        severity="High",
        targets={"postgres": database},
        archive_dir=str(tmp_path),
    )
    exec(snippet, {"investigation": investigation})
    state = investigation.investigation
    assert state.hypotheses[-1].title == "Orders vanished" and state.latest(len(state.hypotheses) - 1) is None
    (kept,) = state.queries
    assert (
        kept.title == "who is connected"
        and kept.error is None
        and kept.rows.columns == ("pid", "state", "query")
    )
