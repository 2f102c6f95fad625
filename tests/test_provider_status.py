"""llm.provider_status over real HTTP against Statuspage stand-ins."""

import time

import pytest

from incident_lab import Result, run
from incident_lab.verdict import Verdict


def status(standin, case: str, **params) -> Result:
    return run("llm.provider_status", "openai", {"status_url": standin.url(case), **params})


CASES = [
    ("status-none", {}, False, "reports 'none' (All Systems Operational)"),
    ("status-major", {}, True, "API: major outage; unresolved incident “Elevated error rates on the API”"),
    ("status-html", {}, None, "(text/html) is not a Statuspage summary"),
    ("status-minor-elsewhere", {}, True, "Console: degraded performance"),
    ("status-minor-elsewhere", {"components": "api"}, False, "none of 1 watched component(s) degraded"),
]


@pytest.mark.parametrize(
    ("case", "params", "verdict", "summary"),
    CASES,
    ids=[f"{c[0]}{'-' + str(c[1]) if c[1] else ''}" for c in CASES],
)
def test_each_status_page_case(provider_standin, case, params, verdict, summary):
    result = status(provider_standin, case, **params)
    assert result.verdict.json is verdict, result.summary
    assert summary in result.summary
    assert result.error is None
    assert Result.from_json(result.to_json()) == result


def test_major_outage_evidence_and_metrics(provider_standin):
    result = status(provider_standin, "status-major")
    assert result.metric("indicator_level") == 2
    assert result.metric("degraded_components") == 1
    assert result.metric("unresolved_incidents") == 1
    incident = result.table("incidents").records()[0]
    assert (incident["status"], incident["impact"], incident["components"]) == (
        "investigating",
        "major",
        "API",
    )
    assert result.hints == ("Follow “Elevated error rates on the API”: https://stspg.io/standin",)
    assert result.test == f"GET {provider_standin.url('status-major')}"


def test_a_page_root_is_completed_to_its_summary(provider_standin):
    root = provider_standin.url("status-none").removesuffix("/api/v2/summary.json")
    result = run("llm.provider_status", "anthropic", {"status_url": root})
    assert result.verdict is Verdict.FALSE
    assert result.test.endswith("/status-none/api/v2/summary.json")


def test_a_moved_status_page_is_followed(provider_standin):
    summary = provider_standin.url("status-none")
    moved = summary.replace("/status-none/", "/http/redirect/status-none/")
    result = run("llm.provider_status", "openai", {"status_url": moved})
    assert result.verdict is Verdict.FALSE
    assert result.test == f"GET {moved}\n\nGET {summary}"


def test_components_matching_nothing_are_inconclusive(provider_standin):
    result = status(provider_standin, "status-none", components=["Embeddings"])
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "No component on Stand-in AI matches Embeddings" in result.summary


def test_a_provider_without_a_known_page_asks_for_one():
    result = run("llm.provider_status", "litellm@http://127.0.0.1:1")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "give status_url" in result.summary
    assert result.test == ""


def test_a_hanging_status_page_is_inconclusive_within_the_budget(provider_standin):
    started = time.monotonic()
    hanging = provider_standin.url("status-none").replace("/status-none/", "/hang/status-none/")
    result = run("llm.provider_status", "openai", {"status_url": hanging, "budget_seconds": 1.5})
    assert time.monotonic() - started < 2.0
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "did not answer" in result.summary
