"""The verdict type and the result's JSON contract, schema 2 and the schema before it."""

import pytest

from incident_lab import Result, Table, Verdict
from incident_lab.investigation.notebook_format import MIME_TYPE, MIME_TYPE_V1, results_in
from incident_lab.result import SCHEMA_VERSION
from incident_lab.verdict import count_verdicts

SCHEMA_1 = {  # as incident_lab 0.1 wrote it: no schema, no kind, no target name, no omitted rows
    "probe": "postgres.lock_contention",
    "hypothesis": "Database lock contention",
    "verdict": True,
    "summary": "3 sessions wait",
    "test": "SELECT 1",
    "target": "service=shop",
    "started_at": "2026-11-28T00:00:00.000Z",
    "duration_ms": 12.5,
    "params": {"min_wait_seconds": 0.0},
    "evidence": [{"name": "blocking_tree", "columns": ["pid"], "rows": [[42]]}],
    "metrics": [
        {"name": "waiting_sessions", "value": 3, "unit": "sessions", "at": "2026-11-28T00:00:00.000Z"}
    ],
    "error": None,
    "hints": ["end it"],
}


@pytest.mark.parametrize(
    ("verdict", "json", "label", "word"),
    [
        (Verdict.TRUE, True, "True", "Confirmed"),
        (Verdict.FALSE, False, "False", "Refuted"),
        (Verdict.INCONCLUSIVE, None, "Inconclusive", "Unknown"),
    ],
)
def test_each_verdict_has_one_json_value_label_and_symptom_word(verdict, json, label, word):
    assert verdict.json is json and verdict.label == label and verdict.symptom_word == word
    assert Verdict.from_json(json) is verdict and Verdict.from_json(verdict.value) is verdict


def test_colours_say_red_for_true_green_for_false_and_differ_for_the_unknown():
    assert Verdict.TRUE.colour == Verdict.TRUE.symptom_colour == "#c62828"
    assert Verdict.FALSE.colour == "#2e7d32"
    assert Verdict.INCONCLUSIVE.colour != Verdict.INCONCLUSIVE.symptom_colour


def test_anything_else_is_not_a_verdict():
    with pytest.raises(ValueError, match="not a verdict"):
        Verdict.from_json("maybe")


def test_counts_name_every_label_even_at_zero():
    counts = count_verdicts([Verdict.TRUE, Verdict.TRUE, Verdict.INCONCLUSIVE])
    assert counts == {"True": 2, "False": 0, "Inconclusive": 1}


def test_a_schema_1_result_reads_and_writes_back_as_schema_2():
    result = Result.from_dict(SCHEMA_1)
    assert result.verdict is Verdict.TRUE and result.kind == "" and result.target_name == ""
    assert result.table("blocking_tree").omitted == 0
    written = result.to_dict()
    assert written["schema"] == SCHEMA_VERSION and written["verdict"] is True
    assert Result.from_dict(written) == result


def test_a_result_of_a_newer_schema_is_refused_not_misread():
    with pytest.raises(ValueError, match="newer"):
        Result.from_dict({**SCHEMA_1, "schema": SCHEMA_VERSION + 1})


def test_notebook_outputs_of_both_mime_types_read_back_in_order():
    newer = {**Result.from_dict(SCHEMA_1).to_dict(), "summary": "second"}
    cells = [
        {"cell_type": "markdown", "source": "x"},
        {"cell_type": "code", "outputs": [{"data": {MIME_TYPE_V1: SCHEMA_1}}, {"data": {"text/plain": "x"}}]},
        {"cell_type": "code", "outputs": [{"data": {MIME_TYPE: newer}}]},
    ]
    assert [r.summary for r in results_in(cells)] == ["3 sessions wait", "second"]
    assert MIME_TYPE.endswith(f".v{SCHEMA_VERSION}+json")


def test_an_evidence_table_keeps_at_most_its_limit_and_counts_the_rest():
    table = Table.from_records("sessions", ({"pid": pid} for pid in range(25)), ["pid"], limit=10)
    assert len(table.rows) == 10 and table.omitted == 15
    assert Table.from_dict(table.to_dict()) == table
