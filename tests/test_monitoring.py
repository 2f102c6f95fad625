"""Live use: the investigation panel's API, `new`, and `watch` until the hypotheses clear."""

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path

import nbformat
from conftest import ctrl_c_as_from_a_terminal, wait_for_a_probe_session

from incident_lab import scenarios
from incident_lab.archive.execute import run_investigation
from incident_lab.archive.store import Archive
from incident_lab.notebook import InvestigationNotebook
from incident_lab.render.panel import InvestigationPanel
from incident_lab.verdict import Verdict

LOCK_ONLY = [{"probe": "postgres.lock_contention"}]


def values(dsn, hypotheses=LOCK_ONLY):
    return {
        "incident": "Checkout failing",
        "severity": "High",
        "targets": {"postgres": dsn},
        "hypotheses": hypotheses,
    }


def test_watch_records_the_flip_and_stops_after_n_clear_rounds(database, tmp_path, cli):
    archive = tmp_path / "archive"
    with scenarios.migration_holds_lock(database, readers=2):
        first = run_investigation(values(database), Archive(archive), progress=False)
        assert first.results[0].verdict is Verdict.TRUE
        watcher = subprocess.Popen(
            [
                cli.command,
                "watch",
                "Checkout failing",
                "--every",
                "1s",
                "--until-clear",
                "2",
                "--max-rounds",
                "8",
                "--target",
                f"postgres={database}",
                "--archive",
                str(archive),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        round_one = watcher.stdout.readline()
    assert round_one.startswith("round 1") and "A True" in round_one
    rest, errors = watcher.communicate(timeout=240)
    assert watcher.returncode == 0, errors
    lines = rest.splitlines()
    # The lock may outlive round 1 by a round while its sessions end: the flip comes when it does.
    flip = next(index for index, line in enumerate(lines) if "A False" in line)
    assert "changed: A True → False" in lines[flip]
    assert "A False" in lines[flip + 1] and "changed" not in lines[flip + 1]
    assert "consider status Resolved" in lines[flip + 2]
    rounds = flip + 3  # round 1 was read above
    report = Path(lines[-1])
    assert report.parent.name == "run-002"
    document = json.loads((report.parent / "results.json").read_text())
    assert document["incident"]["status"] == "Monitoring"
    texts = [entry["text"] for entry in document["timeline"]]
    assert "Status Investigating → Monitoring" in texts
    assert any("True → False" in text for text in texts)
    assert [r["label"] for r in document["rounds"] if r["results"]] == [
        f"watch round {n}" for n in range(1, rounds + 1)
    ]
    assert (report.parent / "charts" / "metrics-over-time.png").exists()
    html = report.read_text()
    assert "True → False" in html
    assert "Status Investigating → Monitoring" in html


def test_watch_of_a_server_that_went_down_is_inconclusive_not_a_traceback(tmp_path, database, cli):
    archive = tmp_path / "archive"
    run_investigation(values(database), Archive(archive), progress=False)
    shown = cli(
        "watch",
        "Checkout failing",
        "--every",
        "0.1s",
        "--max-rounds",
        "2",
        "--target",
        "postgres=postgresql://app:pw@127.0.0.1:1/shop",
        "--archive",
        str(archive),
    )
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    assert [line[:7] for line in shown.stdout.splitlines()[:2]] == ["round 1", "round 2"]
    assert "A Inconclusive" in shown.stdout


def test_the_template_under_papermill_shows_no_widget_and_no_traceback(database, tmp_path):
    outcome = run_investigation(values(database), Archive(tmp_path), progress=False)
    notebook = nbformat.read(outcome.run_dir / "investigation.ipynb", as_version=4)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert not [o for o in outputs if o.output_type == "error"]
    report = (outcome.run_dir / "report.html").read_text()
    assert "Traceback" not in report and "VBox(" not in report and "HBox(" not in report


def test_the_panel_runs_reruns_monitors_changes_status_and_saves(database, tmp_path):
    notebook = InvestigationNotebook.open(
        incident="Checkout failing",
        severity="High",
        targets={"postgres": database},
        hypotheses=LOCK_ONLY,
        archive_dir=str(tmp_path),
        history_dir="",
    )
    notebook.run()
    investigation = notebook.investigation
    panel = InvestigationPanel(investigation, notebook.save_to_archive)
    row = panel.rows[0]
    assert "False" in row.badge.value

    async def session():
        with scenarios.migration_holds_lock(database, readers=2):
            confirmed = await panel.rerun(0)
        assert confirmed.verdict is Verdict.TRUE
        assert "True" in row.badge.value and "migration pid" in row.summary.value
        refuted = await panel.rerun(0)
        assert refuted.verdict is Verdict.FALSE and "False" in row.badge.value
        panel.status.value = "Identified"
        panel.every.value = 1
        panel.monitoring.value = True
        while sum(r.label.startswith("monitoring round") for r in investigation.rounds) < 2:
            await asyncio.sleep(0.1)
        panel.monitoring.value = False
        await panel.save()

    asyncio.run(session())
    timeline = panel.timeline.value
    assert "Status Investigating → Identified" in timeline
    assert "True → False" in timeline and "False → True" in timeline
    assert "saved:" in panel.message.value
    (run,) = tmp_path.glob("*/run-001")
    document = json.loads((run / "results.json").read_text())
    assert document["incident"]["status"] == "Identified"
    assert [r["label"] for r in document["rounds"]][:1] == [investigation.rounds[0].label]
    assert len(document["rounds"]) == len(investigation.rounds)


def test_new_prepares_the_incidents_notebook_without_running_or_overwriting(
    database, tmp_path, cli, database_password
):
    args = [
        "new",
        "--incident",
        "Checkout failing",
        "--severity",
        "High",
        "--target",
        f"postgres={database}",
        "--archive",
        str(tmp_path),
    ]
    shown = cli(*args)
    assert shown.returncode == 0, shown.stderr
    command = shown.stdout.strip()
    assert command.endswith("investigation.ipynb") and " lab " in command
    notebook_path = Path(command.split(" lab ")[1])
    notebook = nbformat.read(notebook_path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    parameters = notebook.metadata.papermill.parameters
    assert parameters["interactive"] is True and parameters["archive_dir"] == str(tmp_path.resolve())
    password = database_password
    assert password not in notebook_path.read_text()
    assert "PGPASSWORD" in shown.stderr
    again = cli(*args)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert nbformat.read(notebook_path, as_version=4) == notebook
    missing = cli("lab", "No such incident", "--archive", str(tmp_path))
    assert missing.returncode == 2 and "no incident" in missing.stderr


def test_ctrl_c_before_the_first_round_ends_still_archives_a_readable_run(database, tmp_path, cli):
    archive = tmp_path / "archive"
    slow = [{"probe": "postgres.deadlocks", "params": {"window_seconds": 6}}]
    run_investigation(values(database, slow), Archive(archive), progress=False)
    watcher = subprocess.Popen(
        [
            cli.command,
            "watch",
            "Checkout failing",
            "--target",
            f"postgres={database}",
            "--archive",
            str(archive),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_as_from_a_terminal,
    )
    wait_for_a_probe_session(database, watcher)
    time.sleep(1)  # inside round 1's 6 s sampling window
    watcher.send_signal(signal.SIGINT)
    out, errors = watcher.communicate(timeout=120)
    assert watcher.returncode == 0, errors
    assert "interrupted" in out and "Traceback" not in errors
    report = Path(out.splitlines()[-1])
    assert report.parent.name == "run-002"
    assert json.loads((report.parent / "results.json").read_text())["outcome"] == "completed"
    assert "not tested" in report.read_text()
