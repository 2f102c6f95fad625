"""The live investigation without a browser: the panel's Python API and the investigation's
state, against a real PostgreSQL with real sessions holding real locks."""

import asyncio
import contextlib
import itertools
import json
import time
from typing import Annotated

import pytest

from incident_lab import Bounds, Finding, PostgresSession, Table, confirmed, probe, refuted, scenarios
from incident_lab.archive.execute import run_investigation
from incident_lab.archive.store import Archive
from incident_lab.notebook import InvestigationNotebook
from incident_lab.render.panel import RUNNING, InvestigationPanel
from incident_lab.render.sections import summary
from incident_lab.result import parse_time
from incident_lab.runner import default_registry
from incident_lab.verdict import Verdict
from incident_lab.watch import open_latest, watch

LOCK = {"probe": "postgres.lock_contention"}


def notebook(database, tmp_path, hypotheses=(LOCK,)):
    return InvestigationNotebook.open(
        incident="Checkout failing",
        severity="High",
        targets={"postgres": database},
        hypotheses=list(hypotheses),
        archive_dir=str(tmp_path / "archive"),
    )


def test_each_row_is_drawn_when_its_own_probe_answers(database, tmp_path):
    book = notebook(
        database, tmp_path, [LOCK, {"probe": "postgres.deadlocks", "params": {"window_seconds": 3}}]
    )
    state = book.investigation

    async def session():
        panel = InvestigationPanel(state, book.save_to_archive)
        tasks = panel.rerun_all()
        deadline = time.monotonic() + 10
        while state.latest(0) is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        # The quick probe's row is final while the 3 s probe still runs beside it.
        assert "False" in panel.rows[0].badge.value and panel.rows[0].running.value == ""
        assert panel.rows[1].running.value == RUNNING and state.latest(1) is None
        await asyncio.gather(*tasks)
        assert "False" in panel.rows[1].badge.value and panel.rows[1].running.value == ""
        return panel

    panel = asyncio.run(session())
    (round_,) = state.rounds
    assert round_.label == "re-run all" and [r.probe for r in round_.results] == [
        "postgres.lock_contention",
        "postgres.deadlocks",
    ]
    assert "re-run all: 2 tested — 2 False" in panel.timeline.value


def test_the_panel_names_the_pattern_a_lock_matches_and_keeps_it_after_the_lock_clears(database, tmp_path):
    book = notebook(database, tmp_path)
    state = book.investigation

    async def rerun(panel):
        await asyncio.gather(*panel.rerun_all())

    panel = InvestigationPanel(state, book.save_to_archive)
    assert "No pattern matched or ruled out yet" in panel.patterns.value
    with scenarios.migration_holds_lock(database, readers=2) as migration:
        asyncio.run(rerun(panel))
    matched = panel.patterns.value
    assert "True" in panel.rows[0].badge.value
    assert "matched</span>" in matched and "A migration holds ACCESS EXCLUSIVE" in matched, matched
    assert f"root_pid {migration}" in matched  # the evidence it matched on, from the same result
    asyncio.run(rerun(panel))
    assert "False" in panel.rows[0].badge.value
    assert "matched earlier" in panel.patterns.value and ", ruled out at " in panel.patterns.value


def test_monitoring_rounds_start_every_n_seconds_and_a_running_probe_is_not_started_twice(database, tmp_path):
    slow = {"probe": "postgres.deadlocks", "params": {"window_seconds": 2.5}}
    book = notebook(database, tmp_path, [LOCK, slow])
    state = book.investigation

    async def session():
        panel = InvestigationPanel(state, book.save_to_archive)
        panel.every.value = 1
        panel.monitoring.value = True
        await asyncio.sleep(6.3)
        panel.monitoring.value = False  # during a round
        turned_off = time.monotonic()
        await panel.wait_for_probes()
        finished = time.monotonic()
        await asyncio.sleep(0.2)
        return panel, finished - turned_off

    panel, drained = asyncio.run(session())
    rounds = [r for r in state.rounds if r.label.startswith("monitoring round")]
    starts = [parse_time(r.at) for r in rounds]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert len(rounds) >= 6 and all(0.8 < gap < 1.4 for gap in gaps), gaps  # start to start, not 1 s + 2.5 s
    deadlock_runs = sorted(
        (parse_time(r.started_at), r.duration_ms / 1000)
        for rd in rounds
        for r in rd.results
        if "deadlock" in r.probe
    )
    for (start, took), (after, _) in itertools.pairwise(deadlock_runs):
        assert (after - start).total_seconds() >= took - 0.05  # never two at once
    assert 2 <= len(deadlock_runs) <= 3
    assert drained < 3.5
    assert all(row.running.value == "" for row in panel.rows)  # no row left "running"


def test_a_parameter_change_is_on_the_timeline_and_its_flip_is_not_the_incident_clearing(database, tmp_path):
    book = notebook(database, tmp_path)
    state = book.investigation
    with scenarios.migration_holds_lock(database, readers=2):
        assert state.rerun(0).verdict is Verdict.TRUE
        state.change_params(0, {"min_wait_seconds": "300"})
        assert state.hypotheses[0].params == {"min_wait_seconds": 300.0}
        assert state.rerun(0).verdict is Verdict.FALSE
    texts = [(entry.kind, entry.text) for entry in state.with_current().timeline()]
    assert ("change", "A: min_wait_seconds (default) → 300.0") in texts
    flips = [text for kind, text in texts if kind == "verdict"]
    assert flips == [
        f"{state.hypotheses[0].title}: True → False after its parameters changed "
        "(min_wait_seconds 0.0 → 300.0), not a change in the system"
    ]
    assert not [text for kind, text in texts if kind == "cleared"]
    said = summary(state)[0].text
    assert "Confirmed earlier, not cleared" in said and "since its parameters changed" in said
    assert "now cleared" not in said


def test_an_ad_hoc_query_is_read_only_bounded_and_kept_with_its_errors(database, tmp_path):
    state = notebook(database, tmp_path).investigation
    numbers = "SELECT g AS n FROM generate_series(1, 2000) g"
    counted = state.query("postgres", numbers, title="numbers", max_rows=100)
    assert counted.error is None and counted.rows.columns == ("n",)
    assert len(counted.rows.rows) == 100 and counted.rows.omitted == 1900 and counted.rows.rows[0] == (1,)
    shown = state.query("postgres", "SHOW default_transaction_read_only", hypothesis="A")
    assert shown.rows.rows == (("on",),) and shown.hypothesis == state.hypotheses[0].title
    write = state.query("postgres", "CREATE TABLE intruder (id int)", title="a write")
    assert write.error is not None and "read-only transaction" in write.error
    broken = state.query("postgres", "SELEC 1", title="typo")
    assert broken.error is not None and "syntax error" in broken.error
    with scenarios.migration_holds_lock(database, readers=1):
        blocked = state.query("postgres", "SELECT count(*) FROM orders", title="orders")
    assert blocked.error is not None and "lock timeout" in blocked.error
    assert [q.title for q in state.queries] == [
        "numbers",
        "SHOW default_transaction_read_only",
        "a write",
        "typo",
        "orders",
    ]
    notes = [entry.text for entry in state.with_current().timeline() if entry.kind == "change"]
    assert notes[0].startswith("Query “numbers” on postgres: 2000 rows")
    assert any(
        note.startswith("Query “a write” on postgres: failed: ReadOnlySqlTransaction") for note in notes
    )
    with pytest.raises(Exception, match="no target named 'nowhere'"):
        state.query("nowhere", "SELECT 1")


@probe(
    "cell.orders_exist",
    hypothesis="Orders vanished: the orders table is empty",
    test="SELECT count(*) FROM orders",
    target="postgres",
)
def orders_exist(
    db: PostgresSession, *, at_least: Annotated[int, "rows expected", Bounds(min=0)] = 1
) -> Finding:
    rows = db.execute("SELECT count(*) AS n FROM public.orders")
    evidence = [Table.from_records("orders", rows, ["n"])]
    if rows[0]["n"] < at_least:
        return confirmed(f"only {rows[0]['n']} orders", evidence=evidence)
    return refuted(f"{rows[0]['n']} orders are there", evidence=evidence)


def test_a_probe_defined_in_a_cell_and_a_query_survive_save_to_archive(database, tmp_path):
    scenarios.create_table(database, "orders")
    book = notebook(database, tmp_path)
    state = book.investigation
    state.run()
    index = book.add_hypothesis("Orders vanished", orders_exist, target="postgres", params={"at_least": 5})
    assert state.latest(index) is None and state.rerun(index).verdict is Verdict.FALSE
    state.query(
        "postgres", "SELECT count(*) AS orders FROM public.orders", title="orders now", hypothesis="B"
    )
    outcome = book.save_to_archive()
    assert outcome.completed, outcome.error
    document = json.loads((outcome.run_dir / "results.json").read_text())
    assert [r["probe"] for r in document["results"]] == ["postgres.lock_contention", "cell.orders_exist"]
    assert document["results"][1]["summary"] == "10 orders are there"
    assert document["queries"][0]["title"] == "orders now" and document["queries"][0]["rows"]["rows"] == [
        [10]
    ]
    report = (outcome.run_dir / "report.html").read_text()
    assert "Hypothesis B: Orders vanished" in report and "10 orders are there" in report
    assert "orders now" in report and "SELECT count(*) AS orders FROM public.orders" in report
    assert "Hypothesis B added: Orders vanished (cell.orders_exist on postgres)" in json.dumps(
        document["timeline"]
    )


def test_the_report_after_monitoring_keeps_the_evidence_that_identified_the_cause(database, tmp_path):
    archive = Archive(tmp_path / "archive")
    values = {
        "incident": "Checkout failing",
        "severity": "High",
        "targets": {"postgres": database},
        "hypotheses": [LOCK],
    }
    lock = contextlib.ExitStack()
    migration = lock.enter_context(scenarios.migration_holds_lock(database, readers=3))
    with lock:
        run_investigation(values, archive, progress=False)
        investigation = open_latest("Checkout failing", archive, default_registry(), {"postgres": database})

        def say(line: str) -> None:
            if line.startswith("round 1 "):
                lock.close()  # the lock clears after round 1

        outcome = watch(investigation, archive, every_seconds=0.5, until_clear=2, max_rounds=6, say=say)
    assert outcome.cleared and outcome.archived.completed
    report = outcome.archived.report.read_text()
    assert "<strong>Confirmed at " in report
    assert f"migration pid {migration}" in report
    assert "ALTER TABLE" in report and "shipped_at" in report
    assert "cleared" in report and "after it was first confirmed" in report
    review = report[report.index("Root Cause") :]
    assert "Database lock contention" in review and "confirmed at" in review
    summary = report[report.index("Summary") :]
    assert "Confirmed earlier, now cleared" in summary[:2000]


def test_a_save_that_cannot_write_says_why_in_the_panel_and_archives_nothing(database, tmp_path):
    book = notebook(database, tmp_path)
    state = book.investigation
    state.run()
    # Where the archive should be, a file: the kind of mistake a mistyped path or a full mount makes.
    (tmp_path / "archive").write_text("not a folder")

    async def session():
        panel = InvestigationPanel(state, book.save_to_archive)
        await panel.save()
        return panel

    message = asyncio.run(session()).message.value
    assert message.startswith("<strong>Could not save:</strong> "), message
    assert "archive" in message, message  # names where it tried to write
    assert (tmp_path / "archive").read_text() == "not a folder"
    assert state.latest(0) is not None  # the investigation goes on with its results
