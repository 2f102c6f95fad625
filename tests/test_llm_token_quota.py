"""llm.token_quota over real HTTP against the provider stand-in: each documented case gives
its verdict and kind, the sources are read as documented, and no key ever shows."""

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from incident_lab import Result, TargetError, run
from incident_lab.kinds.llm.otel import MAX_EXPORT_BYTES
from incident_lab.kinds.llm.providers import LlmTarget
from incident_lab.kinds.llm.ratelimits import ERROR_KINDS, parse_go_duration
from incident_lab.verdict import Verdict

KEYS = {
    "OPENAI_API_KEY": "canary-openai-7f3a9c",
    "ANTHROPIC_API_KEY": "canary-anthropic-51d0e2",
    "AZURE_OPENAI_API_KEY": "canary-azure-0b77d4",
    "OPENROUTER_API_KEY": "canary-openrouter-e81f",
    "LITELLM_PROXY_API_KEY": "canary-litellm-2a9c",
}
ADMIN_KEYS = {
    "OPENAI_ADMIN_KEY": "canary-openai-admin-93b1",
    "ANTHROPIC_ADMIN_KEY": "canary-anthropic-admin-4c2e",
}
ADMIN = {"admin": True}


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "AZURE_OPENAI_ENDPOINT", *ADMIN_KEYS):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


def assert_no_key(*texts: str) -> None:
    for key in [*KEYS.values(), *ADMIN_KEYS.values()]:
        for text in texts:
            assert key not in text


def quota(standin, case: str, params: dict | None = None, **reference: int) -> Result:
    result = run("llm.token_quota", standin.reference(case, **reference), params)
    assert_no_key(result.to_json(), repr(result), result.test, json.dumps(result.table("signals").records()))
    return result


def signals(result: Result, name: str | None = None) -> list[dict]:
    rows = result.table("signals").records()
    return [row for row in rows if name is None or row["signal"] == name]


def kinds(result: Result) -> set[str]:
    return {row["kind"] for row in signals(result) if row["kind"]}


# case, parameters (ADMIN: with admin keys), verdict, the kind that decides (None: no error), summary
CASES = [
    ("openai-headroom", {}, False, None, "Headroom stayed at or above 20%"),
    ("openai-tpm-429", {}, True, "rate_tokens", "The token limit is exhausted"),
    ("openai-too-large", {}, True, "request_too_large", "exceed the whole per-minute token limit"),
    ("openai-insufficient-quota", {}, True, "hard_quota", "A hard quota was hit"),
    ("openai-no-headers", {}, None, None, "No usable signal"),
    ("openai-context", {}, False, "context_overflow", "context window"),
    ("openai-usage", {**ADMIN, "tokens_per_minute_limit": 30000}, True, None, "2 minutes in a row"),
    ("openai-server-error", {}, False, None, "not the token quota: provider server errors (HTTP 5xx) (1)"),
    ("openai-malformed", {}, None, "unparsable", "Could not parse: x-ratelimit-limit-tokens: '30k'"),
    ("openai-bad-key", {}, None, "auth_rejected", "The provider rejected OPENAI_API_KEY (…3a9c)"),
    ("anthropic-headroom", {}, False, None, "Headroom stayed at or above 20%"),
    ("anthropic-429", {}, True, "rate_tokens", "input_tokens_remaining 0 of 400000"),
    ("anthropic-spend-cap", {}, True, "hard_quota", "monthly spend limit"),
    ("anthropic-usage-limit", {}, True, "hard_quota", "specified API usage limits"),
    ("anthropic-overloaded", {}, False, "provider_overload", "not the token quota: provider overload"),
    ("anthropic-prompt-too-long", {}, False, "context_overflow", "context window"),
    ("anthropic-usage", {**ADMIN, "tokens_per_minute_limit": 40000}, False, None, "Headroom stayed"),
    ("azure-429", {"model": "gpt-4o-mini"}, True, "rate_tokens", "tokens_remaining 0"),
    ("azure-no-data", {"model": "gpt-4o-mini"}, None, "no_data", "No usable signal"),
    ("openrouter-credit", {}, False, None, "credit_remaining 80.0 of 100"),
    ("openrouter-no-credit", {}, True, "hard_quota", "credit_remaining 0.0 of 10"),
    ("openrouter-402", {}, True, "hard_quota", "Insufficient credits"),
    ("litellm-over-budget", {}, True, "hard_quota", "budget_remaining -2.5 of 10"),
    ("litellm-headroom", {}, False, None, "upstream_tokens_remaining 25000 of 30000"),
]


@pytest.mark.parametrize(("case", "params", "verdict", "kind", "summary"), CASES, ids=[c[0] for c in CASES])
def test_each_stand_in_case_gives_its_verdict_and_kind(
    provider_standin, monkeypatch, case, params, verdict, kind, summary
):
    params = dict(params)
    if params.pop("admin", False):
        for name, value in ADMIN_KEYS.items():
            monkeypatch.setenv(name, value)
    result = quota(provider_standin, case, params)
    assert result.verdict.json is verdict, result.summary
    assert summary in result.summary
    if kind is None:
        assert not kinds(result) & set(ERROR_KINDS)
    else:
        assert kind in kinds(result)
    assert result.error is None
    assert Result.from_json(result.to_json()) == result


def test_openai_headers_and_go_durations_are_read_from_the_one_token_request(provider_standin):
    result = quota(provider_standin, "openai-headroom")
    assert [row["value"] for row in signals(result, "ratelimit_headers")] == [0, 6]  # /models sends none
    assert signals(result, "tokens_reset_s")[0]["value"] == 360.0
    assert signals(result, "requests_reset_s")[0]["value"] == 0.12
    tokens = signals(result, "tokens_remaining")[0]
    assert (tokens["value"], tokens["limit"], tokens["ratio"]) == (27000, 30000, 0.9)
    assert tokens["request_id"] == "req_standin_openai"
    assert (result.metric("tokens_remaining"), result.metric("tokens_limit")) == (27000, 30000)
    assert result.metric("utilisation") == pytest.approx(0.1)
    assert '"max_completion_tokens":1' in result.test
    assert provider_standin.seen("openai-headroom")[-2:] == ["GET /v1/models", "POST /v1/chat/completions"]
    assert "Authorization" not in result.test and "Bearer" not in result.test


@pytest.mark.parametrize(
    ("text", "seconds"), [("6m0s", 360), ("644ms", 0.644), ("1h0m0s", 3600), ("0s", 0), ("1.5s", 1.5)]
)
def test_go_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


def test_retry_hints_tpm_429_has_retry_after_and_insufficient_quota_has_none(provider_standin):
    tpm = quota(provider_standin, "openai-tpm-429")
    assert signals(tpm, "retry_after_s")[0]["value"] == 1.0
    assert signals(tpm, "tokens_reset_s")[0]["value"] == 0.644
    assert tpm.metric("errors_rate_tokens") == 1
    quota_hit = quota(provider_standin, "openai-insufficient-quota")
    assert not signals(quota_hit, "retry_after_s")
    assert quota_hit.metric("errors_hard_quota") == 1
    assert "retrying will not help" in quota_hit.summary


def test_anthropic_rfc3339_resets_and_retry_after(provider_standin):
    result = quota(provider_standin, "anthropic-429")
    assert signals(result, "retry_after_s")[0]["value"] == 30.0
    assert 20 < signals(result, "tokens_reset_s")[0]["value"] <= 31
    assert {row["signal"] for row in signals(result)} >= {
        "requests_remaining",
        "tokens_remaining",
        "input_tokens_remaining",
        "output_tokens_remaining",
    }
    assert signals(result, "http_429")[0]["request_id"] == "req_standin_anthropic"


def test_azure_retry_after_ms_wins_and_minus_one_means_no_data(provider_standin):
    limited = quota(provider_standin, "azure-429", {"model": "gpt-4o-mini"})
    assert signals(limited, "retry_after_s")[0]["value"] == 6.0
    assert signals(limited, "http_429")[0]["request_id"] == "req_standin_azure"
    blank = quota(provider_standin, "azure-no-data", {"model": "gpt-4o-mini"})
    assert {row["kind"] for row in signals(blank, "tokens_remaining")} == {"no_data"}
    assert blank.metric("tokens_remaining") is None


def test_azure_needs_the_deployment_name_before_spending_a_token(provider_standin):
    result = quota(provider_standin, "azure-no-data")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "needs model= (the deployment name)" in result.summary
    assert "POST" not in result.test


def test_openai_usage_follows_pagination_to_find_two_full_minutes(provider_standin, monkeypatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN_KEYS["OPENAI_ADMIN_KEY"])
    result = quota(provider_standin, "openai-usage", {"tokens_per_minute_limit": 30000})
    minutes = signals(result, "tokens_per_minute")
    assert [row["value"] for row in minutes] == [9000, 12000, 29500, 29800, 15000, 0]
    assert result.metric("utilisation") == pytest.approx(29800 / 30000, abs=1e-4)
    assert any("page=page-2" in line for line in provider_standin.seen("openai-usage"))
    assert "POST" not in result.test  # the usage API showed the headroom: no token spent


def test_usage_limit_comes_from_the_headers_when_not_configured(provider_standin, monkeypatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN_KEYS["OPENAI_ADMIN_KEY"])
    result = quota(provider_standin, "openai-usage")
    assert result.verdict is Verdict.TRUE
    assert {row["limit"] for row in signals(result, "tokens_per_minute")} == {30000}


def test_anthropic_usage_report_keeps_the_empty_bucket(provider_standin, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN_KEYS["ANTHROPIC_ADMIN_KEY"])
    result = quota(provider_standin, "anthropic-usage", {"tokens_per_minute_limit": 40000})
    minutes = signals(result, "tokens_per_minute")
    # Cache reads (50000 a bucket) do not count against the limit; cache writes do.
    assert [row["value"] for row in minutes] == [8000, 12000, 0, 10000, 9000]
    assert result.metric("utilisation") == pytest.approx(0.3)
    assert ("usage_api", True, "2 page(s), 5 one-minute buckets") in result.table("sources").rows


def test_admin_usage_without_the_admin_key_is_noted_not_guessed(provider_standin):
    result = quota(provider_standin, "openai-usage")
    assert ("usage_api", False, "OPENAI_ADMIN_KEY is not set") in result.table("sources").rows
    assert not signals(result, "tokens_per_minute")


def test_credit_known_from_the_key_report_spends_no_token(provider_standin):
    result = quota(provider_standin, "openrouter-credit")
    assert provider_standin.seen("openrouter-credit")[-2:] == ["GET /api/v1/key", "GET /api/v1/models"]
    assert "POST" not in result.test


def test_litellm_budget_refusal_is_classified_from_its_body(provider_standin):
    result = quota(provider_standin, "litellm-over-budget")
    refusal = signals(result, "http_400")[0]
    assert refusal["kind"] == "hard_quota" and "Budget has been exceeded" in refusal["value"]


def test_send_request_off_spends_nothing(provider_standin):
    result = quota(provider_standin, "openai-no-headers", {"send_request": False})
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "send_request is off" in result.summary
    assert result.test.count("\n") == 0 and result.test.startswith("GET ")


def test_without_a_key_no_request_is_made(provider_standin, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    result = run("llm.token_quota", provider_standin.reference("openai-headroom"))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "OPENAI_API_KEY is not set" in result.summary
    assert result.test == ""


def test_a_hanging_provider_is_inconclusive_within_the_budget(provider_standin):
    started = time.monotonic()
    result = run(
        "llm.token_quota",
        provider_standin.reference("openai-headroom").replace("/openai-", "/hang/openai-"),
        {"budget_seconds": 2},
    )
    assert time.monotonic() - started < 2.5
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no answer before the probe's time budget ran out" in result.summary
    assert {row["kind"] for row in signals(result, "no_answer")} == {"cut_off"}


def test_an_unreachable_provider_is_inconclusive_with_the_reason():
    result = run("llm.token_quota", "openai@http://127.0.0.1:1/v1")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "connection refused" in result.summary
    assert "POST" not in result.test


def test_a_slow_provider_still_answers(provider_standin):
    result = quota(provider_standin, "anthropic-headroom", slow_ms=300)
    assert result.verdict is Verdict.FALSE
    assert result.duration_ms >= 600  # two calls, each 300 ms late


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def answer(status: int, remaining: int = 20000, body: object = "") -> dict:
    headers = {"x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": str(remaining)}
    return {
        "status": status,
        "headers": headers,
        "body": body,
        "model": "gpt-4o-mini",
        "observed_at": "2026-11-28T14:05:00Z",
    }


TPM_429 = {
    "error": {
        "message": "Rate limit reached … on tokens per min (TPM)",
        "type": "tokens",
        "code": "rate_limit_exceeded",
    }
}


def test_export_alone_is_passive_and_repeated_token_errors_confirm(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    rows = [answer(200)] * 36 + [answer(429, 9000, TPM_429)] * 4
    result = run("llm.token_quota", "openai", {"export_path": write_jsonl(tmp_path / "agent.jsonl", rows)})
    assert result.verdict is Verdict.TRUE, result.summary
    assert "4 of 40 answers (10%)" in result.summary
    assert result.metric("errors_rate_tokens") == 4
    assert result.test == ""  # read from the file: no request, no token
    assert {row["source"] for row in signals(result)} == {"export"}


def test_rare_token_errors_with_fair_headroom_fall_between_thresholds(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    rows = [answer(200, 15000)] * 97 + [answer(429, 15000, TPM_429)] * 3
    result = run("llm.token_quota", "openai", {"export_path": write_jsonl(tmp_path / "agent.jsonl", rows)})
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "fall between the thresholds" in result.summary


def test_export_as_csv_with_overload_only_refutes_and_names_it(monkeypatch, tmp_path):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    headroom = {"anthropic-ratelimit-tokens-remaining": "90000", "anthropic-ratelimit-tokens-limit": "100000"}
    path = tmp_path / "agent.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["status", "headers", "body", "model"])
        writer.writerows([[529, "{}", json.dumps(overloaded), "claude-haiku-4-5"]] * 3)
        writer.writerow([200, json.dumps(headroom), "{}", "claude-haiku-4-5"])
    result = run("llm.token_quota", "anthropic", {"export_path": str(path)})
    assert result.verdict is Verdict.FALSE, result.summary
    assert "provider overload" in result.summary and "(3)" in result.summary
    assert result.metric("errors_provider_overload") == 3


def test_unreadable_export_lines_are_named_not_fatal(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    path = tmp_path / "agent.jsonl"
    path.write_text(json.dumps(answer(200, 27000)) + "\nnot json\n" + json.dumps({"headers": {}}) + "\n")
    result = run("llm.token_quota", "openai", {"export_path": str(path)})
    assert result.verdict is Verdict.FALSE
    problems = [row["value"] for row in signals(result, "unparsable_line")]
    assert problems[0].startswith("line 2: JSONDecodeError") and problems[1].startswith("line 3: KeyError")


def test_references_parse_and_never_carry_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway.example/openai/v1/")
    assert LlmTarget.parse("openai").label == "openai@https://gateway.example/openai/v1"
    assert LlmTarget.parse("anthropic").label == "anthropic@https://api.anthropic.com"
    assert LlmTarget.parse("https://openrouter.ai/api/v1").label == "openrouter@https://openrouter.ai/api/v1"
    assert (
        LlmTarget.parse("azure@https://r.openai.azure.com").label
        == "azure@https://r.openai.azure.com/openai/v1"
    )
    assert LlmTarget.parse("LiteLLM@http://proxy:4000/v1").label == "litellm@http://proxy:4000"
    assert LlmTarget.parse("http://127.0.0.1:8080/v1").provider == "openai"
    with pytest.raises(TargetError, match="unknown LLM provider 'cohere'"):
        LlmTarget.parse("cohere")
    with pytest.raises(TargetError, match="AZURE_OPENAI_ENDPOINT"):
        LlmTarget.parse("azure")
    with pytest.raises(TargetError) as refused:
        LlmTarget.parse("openai@https://user:canary-in-url-77@gateway.example/v1")
    assert "canary-in-url-77" not in str(refused.value)


def test_no_key_in_any_output_even_when_the_provider_quotes_it(provider_standin, monkeypatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN_KEYS["OPENAI_ADMIN_KEY"])
    result = quota(provider_standin, "openai-bad-key")
    assert "Incorrect API key provided: ***" in result.summary
    assert repr(result).count("***") >= 1
    assert all(keyed for _, path, keyed in provider_standin.requests if "/openai-bad-key/" in path)


def console_script() -> str:
    script = Path(sys.executable).with_name("incident-lab")
    assert script.exists(), f"the console script is not installed next to {sys.executable}"
    return str(script)


def test_cli_prints_exactly_one_json_object_and_no_key(provider_standin):
    url = provider_standin.url("openai-bad-key")
    completed = subprocess.run(
        [console_script(), "probe", "llm.token_quota", "--target", f"llm=openai@{url}", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **KEYS},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert completed.stdout.strip().count("\n") == 0
    assert data["probe"] == "llm.token_quota" and data["verdict"] is None
    assert data["target"] == f"openai@{url}"
    assert_no_key(completed.stdout, completed.stderr)
    headroom = subprocess.run(
        [
            console_script(),
            "probe",
            "llm.token_quota",
            "--target",
            f"llm=openai@{provider_standin.url('openai-headroom')}",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **KEYS},
        check=False,
    )
    assert json.loads(headroom.stdout)["verdict"] is False
    assert_no_key(headroom.stdout, headroom.stderr)


def padded_to(path: Path, line: str, size: int) -> str:
    """A one-line export of `size` bytes: `line`, then spaces, which every reader skips."""
    path.write_text(line + " " * (size - len(line) - 1) + "\n")
    assert path.stat().st_size == size
    return str(path)


HEADROOM = {
    "status": 200,
    "headers": {"x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "27000"},
}
SPANS = {
    "resourceSpans": [
        {
            "scopeSpans": [
                {
                    "spans": [
                        {
                            "name": "chat",
                            "attributes": [
                                {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                                {"key": "http.response.status_code", "value": {"intValue": "429"}},
                            ],
                        }
                    ]
                }
            ]
        }
    ]
}


@pytest.mark.parametrize(
    ("name", "document"), [("agent.jsonl", HEADROOM), ("agent.csv", None), ("spans.json", SPANS)]
)
def test_an_export_above_the_limit_is_refused_whole_and_one_at_it_is_read(
    monkeypatch, tmp_path, name, document
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the export alone: no request is made
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    line = json.dumps(document) if document else 'status,headers,body\n200,"{}",{}\n'
    if document:  # a CSV's padding would be one field, over the csv module's own limit
        at_limit = padded_to(tmp_path / name, line, MAX_EXPORT_BYTES)
        read = run("llm.token_quota", "openai", {"export_path": at_limit})
        assert read.table("sources").rows[0][:2] == ("export", True), read.summary
    over = padded_to(tmp_path / f"over-{name}", line, MAX_EXPORT_BYTES + 1)
    refused = run("llm.token_quota", "openai", {"export_path": over})
    assert refused.verdict is Verdict.INCONCLUSIVE
    assert refused.summary == (
        f"Not read: the export {over} is larger than 64 MiB, the most an export may be: "
        "export only the agent's calls around the incident."
    )
