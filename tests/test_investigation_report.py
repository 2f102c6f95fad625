"""`incident-lab run`: the template executed by papermill into an archived report."""

import json
import re
import textwrap
from pathlib import Path

import pytest
from conftest import add_migration_history

from incident_lab import Result, scenarios
from incident_lab.archive.execute import run_investigation
from incident_lab.archive.store import Archive
from incident_lab.notebook import read_results
from incident_lab.verdict import Verdict

LOCKS = [
    {"probe": "postgres.lock_contention"},
    {"probe": "postgres.recent_migration"},
    {"probe": "postgres.connection_saturation"},
]


def investigation(dsn, hypotheses=LOCKS, **extra):
    return {
        "incident": "Checkout failing",
        "severity": "High",
        "commander": "@alice",
        "targets": {"postgres": dsn},
        "hypotheses": hypotheses,
        **extra,
    }


def test_contention_confirms_the_lock_hypothesis_and_the_report_names_the_migration(database, tmp_path):
    add_migration_history(database, "10 minutes")
    with scenarios.migration_holds_lock(database, table="orders", readers=3) as migration:
        outcome = run_investigation(investigation(database), Archive(tmp_path), progress=False)
    assert outcome.completed
    run = outcome.run_dir
    assert run == tmp_path / f"{outcome.results[0].started_at[:10]}-checkout-failing" / "run-001"
    assert {p.name for p in run.iterdir()} >= {
        "investigation.ipynb",
        "report.html",
        "results.json",
        "metrics.csv",
        "summary.json",
        "charts",
    }
    assert [r.verdict.json for r in outcome.results] == [True, True, False]
    report = (run / "report.html").read_text()
    assert f"migration pid {migration}" in report
    assert "ALTER TABLE" in report and "0042_orders_add_shipped_at" in report
    for section in (
        "1. Immediate Actions",
        "2. Context &amp; Symptoms",
        "3. Investigation &amp; Hypotheses",
        "4. Resolution &amp; Recovery",
        "5. Post-Incident Review",
    ):
        assert section in report
    assert "consider rolling it back" in report  # a probe's hint among the immediate actions
    assert "<script" not in report and 'src="http' not in report  # standalone, opens offline
    assert "from incident_lab.notebook import" not in report  # code cells hidden
    assert {p.name for p in (run / "charts").iterdir()} >= {"verdicts.png", "hypothesis-a.png"}
    metrics = (run / "metrics.csv").read_text()
    assert "waiting_sessions,3,sessions" in metrics


def test_results_read_back_from_the_notebook_match_results_json(database, tmp_path):
    outcome = run_investigation(investigation(database), Archive(tmp_path), progress=False)
    from_notebook = read_results(outcome.run_dir / "investigation.ipynb")
    document = json.loads((outcome.run_dir / "results.json").read_text())
    assert from_notebook == [Result.from_dict(r) for r in document["results"]] == outcome.results
    assert document["outcome"] == "completed"


def test_healthy_database_refutes_every_default_hypothesis(database, tmp_path):
    add_migration_history(database, "3 days")
    values = investigation(database, hypotheses=[])
    outcome = run_investigation(values, Archive(tmp_path), progress=False)
    assert len(outcome.results) == 7
    assert {r.probe: r.verdict.json for r in outcome.results} == dict.fromkeys(
        [r.probe for r in outcome.results], False
    )


def test_a_stopped_server_makes_every_hypothesis_inconclusive_and_the_report_still_renders(tmp_path):
    values = investigation("postgresql://app:pw@127.0.0.1:1/shop")
    outcome = run_investigation(values, Archive(tmp_path), progress=False)
    assert outcome.completed
    assert [r.verdict.json for r in outcome.results] == [None, None, None]
    report = (outcome.run_dir / "report.html").read_text()
    assert "Connection refused" in report and "Inconclusive" in report


def test_no_secret_reaches_any_archived_file(postgres_server, database, tmp_path, cli, database_password):
    password = database_password
    with scenarios.migration_holds_lock(database, readers=2):
        shown = cli(
            "run",
            "--incident",
            "Secrets",
            "--severity",
            "low",
            "--target",
            f"postgres={database}",
            "--hypothesis",
            "postgres.lock_contention",
            "--archive",
            str(tmp_path),
        )
    assert shown.returncode == 0, shown.stderr
    assert password not in shown.stdout + shown.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 6
    for path in files:
        assert password.encode() not in path.read_bytes(), path
    notebook = json.loads(next(tmp_path.rglob("investigation.ipynb")).read_text())
    injected = notebook["metadata"]["papermill"]["parameters"]["targets"]["postgres"]
    assert injected == database.replace(f":{password}@", "@")
    assert read_results(next(tmp_path.rglob("investigation.ipynb")))[0].verdict is Verdict.TRUE


def test_query_text_reaches_the_report_only_escaped(database, tmp_path):
    hostile = "SELECT '<script>alert(1)</script>' FROM orders"
    with scenarios.migration_holds_lock(database, table="orders", readers=1, reader_statement=hostile):
        outcome = run_investigation(investigation(database, LOCKS[:1]), Archive(tmp_path), progress=False)
    report = (outcome.run_dir / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report
    assert "<script>alert(1)" not in report


def test_two_runs_of_one_incident_are_run_001_and_run_002_then_listed_and_shown(database, tmp_path, cli):
    for _ in range(2):
        shown = cli(
            "run",
            "--incident",
            "Checkout failing",
            "--severity",
            "High",
            "--target",
            f"postgres={database}",
            "--hypothesis",
            "postgres.lock_contention:min_wait_seconds=1",
            "--archive",
            str(tmp_path),
        )
        assert shown.returncode == 0, shown.stderr
    (incident,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert sorted(p.name for p in incident.iterdir()) == ["run-001", "run-002"]
    assert shown.stdout.strip() == str(incident / "run-002" / "report.html")
    listed = cli("list", "--archive", str(tmp_path))
    assert listed.stdout.index("run-002") < listed.stdout.index("run-001")
    assert "True 0  False 1  Inconclusive 0" in listed.stdout
    show = cli("show", "Checkout failing/run-001", "--archive", str(tmp_path))
    assert show.returncode == 0 and "run-001 completed" in show.stdout
    assert show.stdout.strip().endswith(str(incident / "run-001" / "report.html"))
    timeline = json.loads((incident / "run-002" / "results.json").read_text())["timeline"]
    assert [entry["text"][:7] for entry in timeline] == ["run-001", "run-002"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--incident", "X", "--severity", "Apocalyptic"], "unknown severity 'Apocalyptic'"),
        (["--incident", "X", "--severity", "High", "--hypothesis", "postgres.nope"], "unknown probe id"),
        (["--severity", "High"], "an incident name is required"),
        (
            [
                "--incident",
                "X",
                "--severity",
                "High",
                "--hypothesis",
                "postgres.lock_contention:min_wait_seconds=x",
            ],
            "must be float",
        ),
    ],
)
def test_bad_parameters_exit_2_with_one_line_and_archive_nothing(tmp_path, args, message, cli):
    shown = cli(
        "run",
        *args,
        "--target",
        "postgres=postgresql://a@127.0.0.1:1/x",
        "--archive",
        str(tmp_path / "archive"),
    )
    assert shown.returncode == 2
    assert shown.stderr.count("\n") == 1 and message in shown.stderr, shown.stderr
    assert not (tmp_path / "archive").exists()


def test_a_dead_kernel_still_archives_the_run_marked_failed(tmp_path, database, cli):
    probes = tmp_path / "probes"
    probes.mkdir()
    (probes / "crash.py").write_text(
        textwrap.dedent("""
        import os
        from incident_lab import probe

        @probe("team.kernel_killer", hypothesis="h", test="t", target="postgres")
        def kernel_killer(db):
            os._exit(3)
    """)
    )
    shown = cli(
        "--probe-path",
        str(probes),
        "run",
        "--incident",
        "Crash",
        "--severity",
        "Low",
        "--target",
        f"postgres={database}",
        "--hypothesis",
        "team.kernel_killer",
        "--archive",
        str(tmp_path / "archive"),
    )
    assert shown.returncode == 1
    assert "failed" in shown.stderr
    (run,) = (tmp_path / "archive").glob("*/run-001")
    assert json.loads((run / "results.json").read_text())["outcome"] == "failed"
    assert (run / "report.html").exists() and (run / "investigation.ipynb").exists()
    assert not list((tmp_path / "archive" / ".staging").iterdir())


def test_demo_reproduces_the_template_incident_on_an_embedded_server(tmp_path, cli):
    shown = cli("demo", "--archive", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    report = Path(shown.stdout.strip())
    assert report.exists() and report.name == "report.html"
    assert "A  Database lock contention" in shown.stderr and "True" in shown.stderr
    results = read_results(report.with_name("investigation.ipynb"))
    assert results[0].probe == "postgres.lock_contention" and results[0].verdict is Verdict.TRUE
    page = report.read_text()
    assert "0042_orders_add_shipped_at" in page
    # The failure patterns it matched, with their evidence, in Contain, Corrective Actions and
    # Related Patterns, linking into the failure-patterns.md beside the report.
    patterns = json.loads(report.with_name("results.json").read_text())["patterns"]
    matched = {m["pattern"]: m for m in patterns if m["status"] == "matched"}
    assert set(matched) == {"postgres.migration-holds-access-exclusive", "postgres.recent-migration-trigger"}
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    contain, review = text.split("Contain:")[1].split("Communicate:")[0], text.split("Corrective Actions")[1]
    assert "Pause the deploy pipeline" in contain and "Roll back: revert the deploy" in contain
    assert "Make every migration set lock_timeout" in review.split("Related Patterns:")[0]
    assert "Add circuit breaker to X service" not in text
    related = review.split("Related Patterns:")[1]
    assert "Matched: A migration holds ACCESS EXCLUSIVE on a busy table" in related
    assert matched["postgres.migration-holds-access-exclusive"]["evidence"][0]["detail"] in related
    catalogue = report.with_name("failure-patterns.md").read_text()
    for link in re.findall(r'href="failure-patterns\.md#([^"]+)"', page):
        assert f'<a id="{link}"></a>' in catalogue


def test_hostile_text_from_the_root_blocker_and_the_operator_is_shown_not_run(database, tmp_path):
    scenarios.create_table(database, "carts")
    with scenarios.sessions(database) as opened:
        holder, waiter = scenarios.connect(database), scenarios.connect(database)
        opened += [holder, waiter]
        holder.execute("BEGIN")
        holder.execute("UPDATE carts SET note = '<img src=x onerror=alert(1)>' WHERE id = 1")
        scenarios.send_without_waiting(waiter, "UPDATE carts SET note = 'x' WHERE id = 1")
        scenarios.wait_for_lock_waiters(database, 1)
        values = investigation(
            database, LOCKS[:1], commander="<script>alert(2)</script>", trigger="[click](javascript:alert(3))"
        )
        values["incident"] = "Boom <img src=y onerror=alert(4)>"
        outcome = run_investigation(values, Archive(tmp_path), progress=False)
    assert outcome.results[0].verdict is Verdict.TRUE
    report = (outcome.run_dir / "report.html").read_text()
    assert "onerror=alert(1)" in report.replace("&lt;", "<")  # the root blocker's query, shown as text
    for live in ("<img src=x", "<img src=y", "<script>alert(2)", 'href="javascript:'):
        assert live not in report


def test_an_unused_targets_password_is_archived_nowhere(database, tmp_path):
    values = investigation(database, LOCKS[:1])
    values["targets"]["replica"] = "postgresql://app:Zz9SecretTwo@replica.internal:5432/shop"
    outcome = run_investigation(values, Archive(tmp_path), progress=False)
    for path in (p for p in outcome.run_dir.rglob("*") if p.is_file()):
        assert b"Zz9SecretTwo" not in path.read_bytes(), path
