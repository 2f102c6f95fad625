"""Matching the catalogue against results and the incident's history, and what the report,
the panel and the archive make of the matches: pure code, results in, standings out."""

from dataclasses import replace

import pytest

from incident_lab import Metric, Result, Table, Verdict
from incident_lab.investigation.history import IncidentHistory, Round
from incident_lab.investigation.matching import PatternMatch, Status, match_patterns
from incident_lab.investigation.params import resolve
from incident_lab.investigation.state import Investigation
from incident_lab.kinds.postgres.blocking import ROOT_COLUMNS, TREE_COLUMNS
from incident_lab.render import sections
from incident_lab.render.patterns import CATALOGUE_FILE, catalogue_markdown, patterns_html
from incident_lab.runner import default_registry

ACCESS_EXCLUSIVE = "postgres.migration-holds-access-exclusive"
QUEUED = "postgres.ddl-queued-behind-long-transaction"
OUTAGE = "llm.provider-outage-or-overload"
PLACEHOLDERS = (
    "Add circuit breaker to X service",
    "Update runbook for Y scenario",
    "Add test case for Z condition",
)


def at(second):
    return f"2026-11-28T00:00:{second:02d}.000Z"


def result(probe, verdict, *, evidence=(), metrics=(), second=1, summary="…"):
    return Result(
        probe=probe,
        hypothesis=probe,
        verdict=verdict,
        summary=summary,
        test="",
        target="service=shop",
        started_at=at(second),
        duration_ms=1.0,
        params={},
        evidence=tuple(evidence),
        metrics=tuple(Metric(name, value, "", at(second)) for name, value in metrics),
    )


def locks(shape, second=1):
    """The lock probe's result for a migration that holds its lock, or one queued behind an
    old transaction, with the tables the probe writes."""
    if shape == "holds":
        root = {"root_pid": 4242, "migration": True, "holds": "ACCESS EXCLUSIVE on public.orders"}
        tree = [{"pid": 4242, "role": "root"}, {"pid": 5000, "role": "waiting"}]
    else:
        root = {"root_pid": 4100, "migration": False, "state": "idle in transaction"}
        tree = [{"pid": 4100, "role": "root"}, {"pid": 4242, "role": "queued migration"}]
    evidence = [
        Table.from_records("blocking_tree", tree, TREE_COLUMNS),
        Table.from_records("root_blockers", [root], ROOT_COLUMNS),
    ]
    return result("postgres.lock_contention", Verdict.TRUE, evidence=evidence, second=second)


def calm(second=1):
    evidence = [
        Table.from_records("blocking_tree", [], TREE_COLUMNS),
        Table.from_records("root_blockers", [], ROOT_COLUMNS),
    ]
    return result("postgres.lock_contention", Verdict.FALSE, evidence=evidence, second=second)


def standing(matches):
    return {match.pattern: match.status for match in matches}


@pytest.fixture(scope="module")
def catalogue():
    return default_registry().patterns


def test_a_migration_holding_its_lock_matches_one_shape_and_rules_out_the_other(catalogue):
    matches = match_patterns(catalogue, [locks("holds")])
    assert standing(matches)[ACCESS_EXCLUSIVE] is Status.MATCHED
    assert standing(matches)[QUEUED] is Status.RULED_OUT
    matched = next(m for m in matches if m.pattern == ACCESS_EXCLUSIVE)
    assert matched.evidence[0].detail == (
        "root_blockers: root_pid 4242, migration true, holds ACCESS EXCLUSIVE on public.orders"
    )
    assert matched.matched_at == at(1) and matches[0] == matched  # matched patterns come first
    queued = next(m for m in matches if m.pattern == QUEUED)
    assert "blocking_tree has no row where role = queued migration" in queued.reason


def test_a_queued_migration_matches_the_other_shape(catalogue):
    found = standing(match_patterns(catalogue, [locks("queued")]))
    assert (found[QUEUED], found[ACCESS_EXCLUSIVE]) == (Status.MATCHED, Status.RULED_OUT)


def test_without_results_everything_is_open_and_a_refuting_result_rules_out(catalogue):
    assert set(standing(match_patterns(catalogue, [])).values()) == {Status.OPEN}
    found = standing(match_patterns(catalogue, [calm()]))
    assert found[ACCESS_EXCLUSIVE] is found[QUEUED] is Status.RULED_OUT
    inconclusive = replace(calm(), verdict=Verdict.INCONCLUSIVE)
    assert standing(match_patterns(catalogue, [inconclusive]))[ACCESS_EXCLUSIVE] is Status.OPEN


def test_one_target_matching_is_enough_when_the_probe_ran_on_several(catalogue):
    shard = replace(locks("holds"), target="service=shard2")
    assert standing(match_patterns(catalogue, [calm(), shard]))[ACCESS_EXCLUSIVE] is Status.MATCHED


def test_match_any_needs_one_clue_and_is_ruled_out_only_by_every_clue_that_ran(catalogue):
    down = result("llm.provider_status", Verdict.TRUE, summary="API: major outage")
    up = result("llm.provider_status", Verdict.FALSE, summary="All Systems Operational")
    overload = result("llm.token_quota", Verdict.FALSE, metrics=[("errors_provider_overload", 2)])
    no_signals = Table("signals", ("source", "kind"), ())
    hard = result(
        "llm.token_quota", Verdict.TRUE, evidence=[no_signals], metrics=[("errors_provider_overload", 0)]
    )
    blind = result("llm.token_quota", Verdict.INCONCLUSIVE)
    assert standing(match_patterns(catalogue, [down]))[OUTAGE] is Status.MATCHED
    assert standing(match_patterns(catalogue, [up, overload]))[OUTAGE] is Status.MATCHED
    assert standing(match_patterns(catalogue, [up, hard]))[OUTAGE] is Status.RULED_OUT
    assert standing(match_patterns(catalogue, [up]))[OUTAGE] is Status.RULED_OUT  # the quota probe never ran
    assert standing(match_patterns(catalogue, [up, blind]))[OUTAGE] is Status.OPEN


def test_a_server_error_row_in_the_quota_probes_signals_is_an_outage_too(catalogue):
    signals = Table("signals", ("source", "kind"), (("live", "server_error"),))
    failing = result(
        "llm.token_quota", Verdict.FALSE, evidence=[signals], metrics=[("errors_provider_overload", 0)]
    )
    assert standing(match_patterns(catalogue, [failing]))[OUTAGE] is Status.MATCHED


def test_the_quota_patterns_tell_a_rate_limit_from_a_hard_quota(catalogue):
    def quota(**errors):
        metrics = [
            (f"errors_{kind}", errors.get(kind, 0)) for kind in ("rate_tokens", "hard_quota", "daily_quota")
        ]
        return result("llm.token_quota", Verdict.TRUE, metrics=[*metrics, ("utilisation", None)])

    rate = standing(match_patterns(catalogue, [quota(rate_tokens=3)]))
    assert (rate["llm.token-rate-exhaustion"], rate["llm.hard-quota-or-spend-cap"]) == (
        Status.MATCHED,
        Status.RULED_OUT,
    )
    hard = standing(match_patterns(catalogue, [quota(hard_quota=1)]))
    assert (hard["llm.token-rate-exhaustion"], hard["llm.hard-quota-or-spend-cap"]) == (
        Status.RULED_OUT,
        Status.MATCHED,
    )
    daily = standing(match_patterns(catalogue, [quota(daily_quota=1)]))
    assert daily["llm.hard-quota-or-spend-cap"] is Status.MATCHED


def test_a_pattern_matched_earlier_keeps_its_evidence_and_when_it_was_ruled_out(catalogue):
    history = IncidentHistory([
        Round("run-001", [locks("holds", second=1)], "Investigating", at(0)),
        Round("watch round 1", [locks("holds", second=11)], "Monitoring", at(10)),
        Round("watch round 2", [calm(second=21)], "Monitoring", at(20)),
    ])  # fmt: skip
    matches = match_patterns(catalogue, [calm(second=21)], history)
    earlier = next(m for m in matches if m.pattern == ACCESS_EXCLUSIVE)
    assert earlier.status is Status.EARLIER and earlier.matched_ever
    assert (earlier.matched_at, earlier.cleared_at) == (at(1), at(21))
    assert earlier.evidence[0].at == at(11)  # the last match's evidence
    assert earlier.reason.startswith("now ruled out: ")
    again = match_patterns(
        catalogue, [locks("holds", second=31)], history.then(Round("r3", [locks("holds", 31)]))
    )
    current = next(m for m in again if m.pattern == ACCESS_EXCLUSIVE)
    assert (current.status, current.matched_at, current.cleared_at) == (Status.MATCHED, at(1), None)


def test_matches_read_back_from_their_json(catalogue):
    for match in match_patterns(catalogue, [locks("holds"), calm()]):
        assert PatternMatch.from_dict(match.to_dict()) == match


def investigation_with(*results, **values):
    registry = default_registry()
    params = resolve(
        {
            "incident": "Checkout failing",
            "severity": "High",
            "targets": {"postgres": "service=shop", "llm": "openai"},
            "hypotheses": [{"probe": r.probe} for r in results],
            **values,
        },
        registry,
    )
    investigation = Investigation(params, IncidentHistory(), registry)
    investigation.take(list(results), [Round("run-001", list(results), "Investigating", at(0))], [])
    return investigation


def markdown(outputs):
    return "\n".join(output.text for output in outputs)


def test_contain_lists_the_matched_patterns_actions_next_to_the_probes_hints():
    holding = replace(locks("holds"), hints=("Migration pid 4242 holds ACCESS EXCLUSIVE on public.orders",))
    contain = markdown(sections.immediate_actions(investigation_with(holding)))
    assert "**Probe hint:** Migration pid 4242" in contain
    title = "A migration holds ACCESS EXCLUSIVE on a busy table"
    assert f"**Pattern [{title}]({CATALOGUE_FILE}#{ACCESS_EXCLUSIVE}):**" in contain
    assert "    - [ ] Pause the deploy pipeline" in contain
    assert QUEUED not in contain


def test_the_review_fills_corrective_actions_and_related_patterns_and_never_the_placeholders():
    review = markdown(sections.review(investigation_with(locks("holds"))))
    assert "1. [ ] Make every migration set lock\\_timeout" in review
    assert (
        f"(pattern [postgres.migration\\-holds\\-access\\-exclusive]({CATALOGUE_FILE}#{ACCESS_EXCLUSIVE}))"
        in review
    )
    related = review.split("**Related Patterns:**")[1]
    assert related.index("**Matched:**") < related.index("**Ruled out:**")
    assert "root\\_blockers: root\\_pid 4242" in related
    assert f"- [The failure-pattern catalogue]({CATALOGUE_FILE})" in related
    healthy = markdown(sections.review(investigation_with(calm())))
    assert "_none yet: no failure pattern matched" in healthy and "**Matched" not in healthy
    for text in (review, healthy):
        assert not any(placeholder in text for placeholder in PLACEHOLDERS)
    given = markdown(sections.review(investigation_with(calm(), corrective_actions=["Page the DBA earlier"])))
    assert "1. [ ] Page the DBA earlier" in given and "2. [ ]" not in given


def test_the_panels_html_shows_each_standing_and_escapes_what_it_quotes(catalogue):
    hostile = replace(locks("holds"), target="<img src=x onerror=alert(1)>")
    html = patterns_html(match_patterns(catalogue, [hostile]))
    assert "matched" in html and "ruled out" in html and f'href="{CATALOGUE_FILE}#{ACCESS_EXCLUSIVE}"' in html
    assert "<img" not in html and "&lt;img src=x" in html
    assert "more pattern(s) open" in html
    assert "No pattern matched or ruled out yet" in patterns_html(match_patterns(catalogue, []))


def test_the_catalogue_file_has_an_anchor_and_an_index_row_for_every_pattern(catalogue):
    text = catalogue_markdown(catalogue)
    for pattern in catalogue:
        assert f'<a id="{pattern.id}"></a>' in text and f"| [{pattern.id}](#{pattern.id}) |" in text
    assert "<script" not in catalogue_markdown([replace(next(iter(catalogue)), title="<script>x</script>")])
