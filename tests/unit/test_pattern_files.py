"""Failure-pattern files: the built-in catalogue, the condition language, and every mistake
in a file named with its file, field and reason."""

from dataclasses import replace

import pytest
import yaml

from incident_lab import Metric, Result, Table, Verdict
from incident_lab.exceptions import PatternError, UsageError
from incident_lab.failure_patterns import (
    MAX_PATTERN_BYTES,
    AnyCondition,
    Check,
    Checked,
    Clue,
    MetricCondition,
    PatternCatalogue,
    TableCondition,
    ValueTest,
    read_pattern,
)
from incident_lab.kinds.postgres.blocking import ROOT_COLUMNS
from incident_lab.registry import load_registry

MINIMAL = """
id: team.orders-migration
title: A migration on orders
description: The orders table is altered while checkout runs.
evidence:
  - probe: postgres.lock_contention
"""


def result(verdict=Verdict.TRUE, evidence=(), metrics=(), probe="postgres.lock_contention"):
    return Result(
        probe=probe,
        hypothesis="h",
        verdict=verdict,
        summary="the summary",
        test="",
        target="service=shop",
        started_at="2026-11-28T00:00:01.000Z",
        duration_ms=1.0,
        params={},
        evidence=tuple(evidence),
        metrics=tuple(metrics),
    )


def roots(*rows, omitted=0):
    table = Table.from_records("root_blockers", rows, ROOT_COLUMNS)
    return replace(table, omitted=omitted)


def metric(name, value):
    return Metric(name, value, "sessions", "2026-11-28T00:00:01.000Z")


def test_every_built_in_pattern_reads_like_a_runbook_entry_and_its_probes_exist():
    registry = load_registry()
    catalogue = registry.patterns
    assert len(catalogue) >= 12
    for pattern in catalogue:
        assert pattern.description and pattern.symptoms and pattern.distinguish, pattern.id
        assert pattern.immediate_actions and pattern.corrective_actions and pattern.related, pattern.id
        assert len(pattern.references) >= 2 and all(r.url.startswith("https://") for r in pattern.references)
        assert all(probe in registry for probe in pattern.deciding_probes)
        assert all(other in catalogue for other in pattern.related)
        assert all(clue.says for clue in pattern.evidence), pattern.id
    # Every built-in probe decides at least one pattern.
    deciding = {probe for pattern in catalogue for probe in pattern.deciding_probes}
    assert deciding == {probe.id for probe in registry}


def test_a_pattern_written_back_from_to_dict_reads_as_the_same_pattern():
    for pattern in load_registry().patterns:
        data = pattern.to_dict()
        del data["source"]
        again = read_pattern(yaml.safe_dump(data, sort_keys=False).encode(), pattern.source)
        assert again == pattern


# text of the file (or None for MINIMAL changed by `edit`), and what the one-line error must say
BAD_FILES = [
    ("- a\n- b\n", "must be a mapping of fields, not a list"),
    ("id: [unclosed\n", "not valid YAML"),
    (MINIMAL.replace("id: team.orders-migration\n", ""), "id: is required"),
    (MINIMAL.replace("team.orders-migration", "Team Orders"), "id: 'Team Orders' is not a pattern id"),
    (MINIMAL + "evidense: []\n", "the file: unknown field 'evidense'"),
    (MINIMAL + "match: most\n", "match: must be all or any, not 'most'"),
    (MINIMAL.replace("title: A migration on orders", "title: ''"), "title: must be non-empty text"),
    (MINIMAL + "symptoms: slow\n", "symptoms: must be a list, not text"),
    (
        MINIMAL + "immediate_actions:\n  - Stop it: now\n",
        "immediate_actions[0]: must be non-empty text, not a map",
    ),
    (MINIMAL + "    verdict: maybe\n", "evidence[0].verdict: 'maybe' is not a verdict"),
    (
        MINIMAL + "    conditions:\n      - {table: t, metric: m}\n",
        "evidence[0].conditions[0]: must have exactly one",
    ),
    (
        MINIMAL + "    conditions:\n      - {metric: m}\n",
        "evidence[0].conditions[0]: says nothing about the metric",
    ),
    (MINIMAL + "    conditions:\n      - {metric: m, above: 3}\n", "conditions[0]: unknown field 'above'"),
    (
        MINIMAL + "    conditions:\n      - {metric: m, at_least: many}\n",
        "conditions[0].at_least: must be a number",
    ),
    (
        MINIMAL + "    conditions:\n      - any: [{metric: m, at_least: 1}]\n",
        "any: needs at least two conditions",
    ),
    (MINIMAL + "    conditions:\n      - {table: t, where: [a]}\n", "conditions[0].where: must be a mapping"),
    (MINIMAL + "    conditions:\n      - {table: t, where: {a: [1]}}\n", "where.a: must be text, a number"),
    (
        MINIMAL + "    conditions:\n      - {table: t, where: {a: {like: x}}}\n",
        "where.a: unknown field 'like'",
    ),
    (
        MINIMAL + "    conditions:\n      - {table: t, where: {a: {present: 1}}}\n",
        "present: must be true or false",
    ),
    (MINIMAL + "references:\n  - {title: x, url: 'javascript:alert(1)'}\n", "references[0].url: 'javascript"),
    (MINIMAL + "references:\n  - {title: x}\n", "references[0].url: is required"),
    (MINIMAL + "related: [Nope!]\n", "related[0]: 'Nope!' is not a pattern id"),
    (MINIMAL.replace("  - probe: postgres.lock_contention\n", ""), "evidence: must be a list, not nothing"),
    (
        MINIMAL.replace("evidence:\n  - probe: postgres.lock_contention\n", "evidence: []\n"),
        "needs at least one",
    ),
    (MINIMAL + "symptoms: [" + ", ".join(["x"] * 51) + "]\n", "symptoms: has more than 50 items"),
    ("description: " + "x" * MAX_PATTERN_BYTES, "larger than 64 KiB"),
]


@pytest.mark.parametrize(("text", "said"), BAD_FILES, ids=[said for _, said in BAD_FILES])
def test_a_bad_file_is_one_line_naming_the_file_the_field_and_the_reason(text, said):
    with pytest.raises(PatternError) as caught:
        read_pattern(text.encode(), "team/orders.yaml")
    message = str(caught.value)
    assert message.startswith("pattern file team/orders.yaml: "), message
    assert said in message and "\n" not in message
    assert isinstance(caught.value, UsageError)


def test_aliases_cannot_make_the_loader_walk_an_exponential_tree():
    bomb = MINIMAL + "    conditions:\n"
    bomb += "      - any: &a0 [{metric: m, at_least: 1}, {metric: m, at_least: 1}]\n"
    for level in range(1, 12):
        bomb += f"      - any: &a{level} [{{any: *a{level - 1}}}, {{any: *a{level - 1}}}]\n"
    with pytest.raises(PatternError, match=r"more than 64 conditions|nest more than 6 deep"):
        read_pattern(bomb.encode(), "bomb.yaml")


def test_null_in_where_means_the_column_is_null():
    pattern = read_pattern(
        (
            MINIMAL
            + "    conditions:\n      - {table: root_blockers, where: {holds_access_exclusive_on: null}}\n"
        ).encode(),
        "p.yaml",
    )
    (condition,) = pattern.evidence[0].conditions
    assert condition == TableCondition(
        "root_blockers", (("holds_access_exclusive_on", ValueTest(present=False)),)
    )


def test_the_catalogue_names_an_unknown_probe_two_definitions_and_an_unknown_related_pattern():
    first = read_pattern(MINIMAL.encode(), "a/orders.yaml")
    with pytest.raises(PatternError, match=r"pattern file a/orders.yaml: evidence\[0\].probe: unknown probe"):
        PatternCatalogue([first]).check({"postgres.deadlocks"})
    second = replace(first, source="b/orders.yaml")
    with pytest.raises(PatternError, match=r"defined twice: in a/orders\.yaml and in b/orders\.yaml"):
        PatternCatalogue([first, second])
    related = replace(first, related=("team.gone",))
    with pytest.raises(PatternError, match=r"related\[0\]: unknown pattern 'team.gone'"):
        PatternCatalogue([related]).check({"postgres.lock_contention"})
    with pytest.raises(UsageError, match=r"unknown pattern id 'team\.nope'"):
        PatternCatalogue([first]).get("team.nope")


def test_values_compare_as_json_does():
    assert ValueTest(equals=True).passes(True) and not ValueTest(equals=True).passes(1)
    assert ValueTest(equals=1).passes(1.0) and not ValueTest(equals=1).passes(True)
    assert (
        ValueTest(at_least=1).passes(2)
        and not ValueTest(at_least=1).passes("2")
        and not ValueTest(at_least=1).passes(None)
    )
    assert not ValueTest(at_least=0).passes(True)
    assert ValueTest(at_most=0).passes(0) and not ValueTest(at_most=0).passes(0.5)
    assert ValueTest(contains="alter").passes("ALTER TABLE orders") and not ValueTest(
        contains="alter"
    ).passes(3)
    assert ValueTest(one_of=("idle", None)).passes(None) and not ValueTest(one_of=("idle",)).passes("active")
    assert ValueTest(differs="root").passes("waiting") and not ValueTest(differs="root").passes("root")
    assert ValueTest(present=True).passes(0) and not ValueTest(present=True).passes(None)
    assert ValueTest(at_least=1, at_most=3).passes(2) and not ValueTest(at_least=1, at_most=3).passes(4)


def test_a_table_condition_holds_fails_or_is_unknown():
    migration = {"root_pid": 4242, "migration": True, "holds_access_exclusive_on": "public.orders"}
    held = TableCondition("root_blockers", (("migration", ValueTest(equals=True)),))
    checked = held.check(result(evidence=[roots(migration)]))
    assert checked == Checked(Check.HOLDS, "root_blockers: root_pid 4242, migration true")
    assert held.check(result(evidence=[roots({"root_pid": 7, "migration": False})])).detail == (
        "root_blockers has no row where migration = true"
    )
    assert held.check(result()).state is Check.UNKNOWN  # no such table
    assert (
        held.check(result(evidence=[roots(omitted=3)])).state is Check.UNKNOWN
    )  # the rows left out may match
    missing_column = TableCondition("root_blockers", (("nope", ValueTest(equals=1)),))
    assert (
        missing_column.check(result(evidence=[roots(migration)])).detail == "root_blockers has no column nope"
    )
    none = TableCondition("root_blockers", (("migration", ValueTest(equals=True)),), ValueTest(at_most=0))
    assert none.check(result(evidence=[roots(migration, omitted=5)])).state is Check.FAILS
    assert none.check(result(evidence=[roots()])) == Checked(
        Check.HOLDS, "root_blockers has no row where migration = true"
    )


def test_metric_and_any_conditions():
    waiting = MetricCondition("waiting_sessions", ValueTest(at_least=1))
    assert waiting.check(result(metrics=[metric("waiting_sessions", 3)])) == Checked(
        Check.HOLDS,
        "waiting_sessions 3 sessions",
    )
    assert waiting.check(result(metrics=[metric("waiting_sessions", 0)])).detail == (
        "waiting_sessions 0 sessions, not ≥ 1"
    )
    assert waiting.check(result(metrics=[metric("waiting_sessions", None)])).state is Check.UNKNOWN
    assert waiting.check(result()).state is Check.UNKNOWN
    either = AnyCondition((waiting, MetricCondition("root_blockers", ValueTest(at_least=1))))
    assert either.check(
        result(metrics=[metric("waiting_sessions", 0), metric("root_blockers", 1)])
    ).state is (Check.HOLDS)
    assert either.check(
        result(metrics=[metric("waiting_sessions", 0), metric("root_blockers", 0)])
    ).state is (Check.FAILS)
    assert either.check(result(metrics=[metric("waiting_sessions", 0)])).state is Check.UNKNOWN


def test_a_clue_counts_only_its_verdicts_and_an_inconclusive_result_decides_nothing():
    clue = Clue(
        "postgres.lock_contention", conditions=(MetricCondition("waiting_sessions", ValueTest(at_least=1)),)
    )
    assert clue.check(result(metrics=[metric("waiting_sessions", 2)])).state is Check.HOLDS
    assert clue.check(result(Verdict.FALSE)) == Checked(Check.FAILS, "the summary")
    assert clue.check(result(Verdict.INCONCLUSIVE)).state is Check.UNKNOWN
    assert clue.check(result(metrics=[metric("waiting_sessions", 0)])).detail == (
        "True, but waiting_sessions 0 sessions, not ≥ 1"
    )
    either = Clue("llm.token_quota", verdicts=(Verdict.TRUE, Verdict.FALSE))
    assert either.check(result(Verdict.FALSE, probe="llm.token_quota")).state is Check.HOLDS
    assert clue.describe() == "postgres.lock_contention is True, and waiting_sessions ≥ 1"
