"""llm.token_quota for Gemini, Vertex AI, Bedrock and Mistral over real HTTP against the
provider stand-in: each case's verdict, kind and headroom row (with its reset time), keys
that never show, Bedrock's SigV4 checked by the server, and OpenTelemetry span exports."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from incident_lab import Result, TargetError, run
from incident_lab.kinds.llm.providers import LlmTarget
from incident_lab.kinds.llm.ratelimits import ERROR_KINDS
from incident_lab.testing.provider_standin import AWS_CREDENTIALS
from incident_lab.verdict import Verdict

ACCESS_KEY, SECRET_KEY = next(iter(AWS_CREDENTIALS.items()))
KEYS = {
    "GOOGLE_API_KEY": "canary-gemini-key-5f0c2e9a",
    "GOOGLE_OAUTH_ACCESS_TOKEN": "ya29.canary-vertex-token-77d1",
    "MISTRAL_API_KEY": "canary-mistral-key-0e4b61",
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
}
AWS_QUIET = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture(autouse=True)
def keys(monkeypatch, tmp_path):
    for name in (*AWS_QUIET, "GEMINI_API_KEY", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    # botocore's credential chain must find the environment's keys, never this machine's files or IMDS.
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def assert_no_secret(result: Result, *more: str) -> None:
    texts = [result.to_json(), repr(result), result.test, *more]
    for secret in [*KEYS.values()]:
        if secret != ACCESS_KEY:  # an access key id is not a secret, but it is masked anyway
            assert all(secret not in text for text in texts), secret


def quota(standin, case: str, params: dict | None = None) -> Result:
    result = run("llm.token_quota", standin.reference(case), params)
    assert_no_secret(result)
    assert result.error is None
    assert Result.from_json(result.to_json()) == result
    return result


def headroom(result: Result) -> list[dict]:
    return result.table("headroom").records()


def kinds(result: Result) -> set[str]:
    return {row["kind"] for row in result.table("signals").records() if row["kind"]}


# case, verdict, the kind that decides (None: no error kind at all), summary
CASES = [
    ("gemini-headroom", False, None, "gemini served a 1-token request for gemini-2.5-flash"),
    ("gemini-tpm-429", True, "rate_tokens", "input_tokens_per_minute_free_tier_remaining 0 of 250000"),
    ("gemini-daily", True, "daily_quota", "requests per day (free tier) for gemini-2.5-flash: 0 of 25 left"),
    (
        "gemini-free-tier-zero",
        True,
        "hard_quota",
        "input tokens per minute (free tier) for gemini-2.5-flash: 0 of 0",
    ),
    ("gemini-overloaded", False, "provider_overload", "not this account's limit: the Gemini API HTTP 503"),
    (
        "gemini-bad-key",
        None,
        None,
        "The provider rejected GOOGLE_API_KEY (…2e9a) (http_400 API key not valid",
    ),
    (
        "gemini-disabled",
        None,
        None,
        "rejected GOOGLE_API_KEY (…2e9a) (http_403 Generative Language API has not",
    ),
    ("gemini-malformed", None, "rate_limit", "Could not parse: QuotaFailure.violations: 'GenerateContent"),
    ("vertex-headroom", False, None, "vertex served a 1-token request for gemini-2.5-flash"),
    ("vertex-provisioned-429", True, "rate_tokens", "tokens_per_second_provisioned_throughput_remaining 0"),
    ("vertex-quota-rpm", None, "rate_requests", "1 rate-limit refusal(s) of 1 answers"),
    ("vertex-shared-capacity", False, "provider_overload", "Vertex AI's shared pay-as-you-go capacity"),
    ("vertex-billing-disabled", True, "hard_quota", "requires billing to be enabled"),
    ("vertex-daily", True, "daily_quota", "requests per day for gemini-2.5-flash: exhausted"),
    (
        "vertex-bad-token",
        None,
        None,
        "rejected GOOGLE_OAUTH_ACCESS_TOKEN (…77d1) (http_401 Request had invalid",
    ),
    (
        "vertex-permission-denied",
        None,
        None,
        "rejected GOOGLE_OAUTH_ACCESS_TOKEN (…77d1) (http_403 Permission 'aiplatform.endpoints.predict'",
    ),
    ("vertex-malformed", None, "rate_limit", "Could not parse: body: not JSON ('<!DOCTYPE html>"),
    ("bedrock-headroom", False, None, "bedrock served a 1-token request for amazon.nova-micro-v1:0"),
    ("bedrock-tokens-429", True, "rate_tokens", "tokens_per_minute_remaining 0 (0%) from live"),
    ("bedrock-daily", True, "daily_quota", "tokens per day for amazon.nova-micro-v1:0: exhausted"),
    ("bedrock-service-quota", True, "hard_quota", "service quota for amazon.nova-micro-v1:0: exhausted"),
    ("bedrock-not-ready", False, "model_not_ready", "the model is not ready to serve"),
    (
        "bedrock-access-denied",
        None,
        None,
        "rejected the AWS credentials (access key …PLE7) (http_403 AccessDeniedException: You don't",
    ),
    ("bedrock-unavailable", False, None, "provider server errors (HTTP 5xx) (1)"),
    (
        "bedrock-malformed",
        None,
        "rate_limit",
        """Could not parse: body: not JSON ('{"message":"Too many tok')""",
    ),
    ("mistral-headroom", False, None, "tokens_per_minute_remaining 4999911 of 5000000"),
    ("mistral-tpm-429", True, "rate_tokens", "tokens_per_minute_remaining 0 of 5000000"),
    (
        "mistral-monthly",
        True,
        "hard_quota",
        "tokens per month for mistral-small-latest: 0 of 1000000000 left",
    ),
    ("mistral-capacity", False, "provider_overload", "not this account's limit: Mistral HTTP 503"),
    ("mistral-bad-key", None, None, "The provider rejected MISTRAL_API_KEY (…4b61) (http_401 Unauthorized"),
    ("mistral-malformed", None, None, "Could not parse: x-ratelimit-limit-tokens-minute: '5M'"),
    (
        "mistral-malformed-body",
        None,
        "rate_limit",
        """Could not parse: body: not JSON ('{"object":"error","message":"Rate limit exc')""",
    ),
]


@pytest.mark.parametrize(("case", "verdict", "kind", "summary"), CASES, ids=[c[0] for c in CASES])
def test_each_provider_case_gives_its_verdict_and_kind(provider_standin, case, verdict, kind, summary):
    result = quota(provider_standin, case)
    assert result.verdict.json is verdict, result.summary
    assert summary in result.summary
    if kind is None:
        assert not kinds(result) & set(ERROR_KINDS)
    else:
        assert kind in kinds(result)
    if verdict is None and "rejected" in summary:
        assert "auth_rejected" in kinds(result)


def seconds_until(text: str) -> float:
    return (dt.datetime.fromisoformat(text.replace("Z", "+00:00")) - dt.datetime.now(dt.UTC)).total_seconds()


@pytest.mark.parametrize(
    ("case", "limit_kind", "limit", "within"),
    [
        ("gemini-tpm-429", "input tokens per minute (free tier)", 250000, (15, 22)),  # RetryInfo 21s
        ("bedrock-tokens-429", "tokens per minute", None, (50, 61)),  # no hint: the minute at the latest
        ("mistral-tpm-429", "tokens per minute", 5000000, (6, 13)),  # Retry-After 12
        ("vertex-provisioned-429", "tokens per second (Provisioned Throughput)", None, (-5, 2)),
    ],
)
def test_per_minute_exhaustion_is_one_headroom_row_with_its_reset(
    provider_standin, case, limit_kind, limit, within
):
    result = quota(provider_standin, case)
    row = headroom(result)[0]  # spent limits come first
    assert (row["limit_kind"], row["limit"], row["remaining"], row["exhausted"]) == (
        limit_kind,
        limit,
        0,
        True,
    )
    assert row["source"] in ("live refusal", "live headers")
    assert within[0] <= seconds_until(row["resets_at"]) <= within[1]
    assert "It resets at" in result.summary and "Back off until 20" in result.hints[0]


def test_a_gemini_daily_quota_resets_at_midnight_pacific_whatever_retry_delay_says(provider_standin):
    result = quota(provider_standin, "gemini-daily")
    row = headroom(result)[0]
    resets = dt.datetime.fromisoformat(row["resets_at"].replace("Z", "+00:00")).astimezone(
        ZoneInfo("America/Los_Angeles")
    )
    assert (resets.hour, resets.minute) == (0, 0) and 0 < seconds_until(row["resets_at"]) <= 25 * 3600
    assert row["detail"] == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    assert "retrying before the reset is pointless" in result.summary
    assert f"it resets at {resets.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC" in result.summary
    assert result.hints[0].startswith("Wait until 20") and "enable billing" in result.hints[1]
    assert result.metric("errors_daily_quota") == 1


def test_a_vertex_daily_quota_in_the_cloud_quota_envelope_resets_at_midnight_pacific(provider_standin):
    result = quota(provider_standin, "vertex-daily")
    row = headroom(result)[0]
    resets = dt.datetime.fromisoformat(row["resets_at"].replace("Z", "+00:00"))
    assert (resets.astimezone(ZoneInfo("America/Los_Angeles")).hour, resets.minute) == (0, 0)
    assert 0 < seconds_until(row["resets_at"]) <= 25 * 3600
    assert (row["limit_kind"], row["remaining"], row["exhausted"], row["source"]) == (
        "requests per day",
        0,
        True,
        "live refusal",
    )
    assert row["detail"] == "Gemini25ProRequestsPerDayPerUserPerTier"
    assert "retrying before the reset is pointless" in result.summary
    assert f"it resets at {resets:%Y-%m-%d %H:%M:%S} UTC" in result.summary
    assert result.hints[0].startswith("Wait until 20") and "request a higher daily quota" in result.hints[1]
    assert result.metric("errors_daily_quota") == 1


def test_bedrock_daily_quota_says_no_reset_time_is_given(provider_standin):
    result = quota(provider_standin, "bedrock-daily")
    assert "retrying before the reset is pointless" in result.summary
    assert "at a time it does not give" in result.summary
    assert "Service Quotas" in result.hints[0]


def test_hard_quotas_name_the_remedy(provider_standin):
    assert "Enable billing" in quota(provider_standin, "gemini-free-tier-zero").hints[0]
    assert "Enable billing" in quota(provider_standin, "vertex-billing-disabled").hints[0]
    assert "Service Quotas" in quota(provider_standin, "bedrock-service-quota").hints[0]
    monthly = quota(provider_standin, "mistral-monthly")
    assert "Raise the monthly limit" in monthly.hints[0] and "retrying will not help" in monthly.summary


@pytest.mark.parametrize(
    ("case", "limit_kind", "limit"),
    [
        ("bedrock-service-quota", "service quota", None),
        ("mistral-monthly", "tokens per month", 1000000000),
        ("gemini-free-tier-zero", "input tokens per minute (free tier)", 0),
    ],
)
def test_a_hard_quota_is_one_spent_headroom_row_and_its_metric(provider_standin, case, limit_kind, limit):
    result = quota(provider_standin, case)
    assert result.verdict is Verdict.TRUE and "retrying will not help" in result.summary
    assert result.metric("errors_hard_quota") == 1
    row = next(r for r in headroom(result) if r["limit_kind"] == limit_kind)
    assert (row["limit"], row["remaining"], row["exhausted"]) == (limit, 0, True)


@pytest.mark.parametrize(
    ("case", "seen"),
    [
        ("gemini-overloaded", "the Gemini API HTTP 503"),
        ("mistral-capacity", "Mistral HTTP 503"),
        ("vertex-shared-capacity", "Vertex AI's shared pay-as-you-go capacity (HTTP 429)"),
    ],
)
def test_overload_is_worded_for_the_provider_that_showed_it(provider_standin, case, seen):
    summary = quota(provider_standin, case).summary
    assert f"not this account's limit: {seen})" in summary
    assert ("Vertex AI" in summary) is case.startswith("vertex")


def test_vertex_shared_capacity_points_at_the_global_endpoint(provider_standin):
    result = quota(provider_standin, "vertex-shared-capacity")
    assert any("global endpoint" in hint for hint in result.hints)


def test_the_headroom_table_holds_every_limit_the_provider_reported(provider_standin):
    rows = headroom(quota(provider_standin, "mistral-headroom"))
    # The tightest first: 717 of 720 requests left is less headroom than 4999911 of 5000000 tokens.
    assert [(r["limit_kind"], r["limit"], r["remaining"], r["source"]) for r in rows] == [
        ("requests per minute", 720, 717, "live headers"),
        ("tokens per minute", 5000000, 4999911, "live headers"),
    ]
    assert {r["model_or_key"] for r in rows} == {"mistral-small-latest"}
    assert all(r["exhausted"] is False for r in rows)


def test_gemini_keys_travel_in_the_header_never_the_query(provider_standin):
    quota(provider_standin, "gemini-headroom")
    seen = [path for _, path, keyed in provider_standin.requests if "/gemini-headroom/" in path]
    assert seen and all("key=" not in path for path in seen)
    assert all(keyed for _, path, keyed in provider_standin.requests if "/gemini-headroom/" in path)


def test_gemini_api_key_is_read_from_either_variable(provider_standin, monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY")
    assert quota(provider_standin, "gemini-headroom").verdict is Verdict.INCONCLUSIVE  # no key: no call
    monkeypatch.setenv("GEMINI_API_KEY", "canary-gemini-second-91c3a")
    result = run("llm.token_quota", provider_standin.reference("gemini-bad-key"))
    assert "GEMINI_API_KEY (…c3a" in result.summary or "GEMINI_API_KEY (…" in result.summary
    assert "canary-gemini-second-91c3a" not in result.to_json() + repr(result)


def test_without_any_key_the_summary_names_every_variable(provider_standin, monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY")
    result = run("llm.token_quota", provider_standin.reference("gemini-headroom"))
    assert "neither GOOGLE_API_KEY nor GEMINI_API_KEY is set" in result.summary
    assert result.test == ""


def test_models_then_the_one_token_request_share_one_kept_alive_connection(provider_standin):
    before = len(provider_standin.peers)
    quota(provider_standin, "mistral-headroom")
    ports = provider_standin.peers[before:]
    assert len(ports) == 2 and len(set(ports)) == 1


# Bedrock: the stand-in recomputes each SigV4 signature with the secret it knows.


def test_bedrock_sends_a_signed_converse_request_the_server_verifies(provider_standin):
    result = quota(provider_standin, "bedrock-headroom")
    assert result.verdict is Verdict.FALSE
    assert "(SigV4, region us-east-1)" in result.test and '"maxTokens":1' in result.test
    assert provider_standin.seen("bedrock-headroom")[-1] == "POST /model/amazon.nova-micro-v1%3A0/converse"


def test_bedrock_with_a_wrong_secret_is_refused_and_inconclusive(provider_standin, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "canary-wrong-secret-0000aaaa")
    result = run("llm.token_quota", provider_standin.reference("bedrock-headroom"))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "InvalidSignatureException" in result.summary
    assert "the AWS credentials (access key …PLE7)" in result.summary
    assert "canary-wrong-secret-0000aaaa" not in result.to_json() + repr(result) + result.test


def test_bedrock_api_keys_go_as_bearer_tokens_without_signing(provider_standin, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "canary-bedrock-api-key-19ab")
    result = run("llm.token_quota", provider_standin.reference("bedrock-tokens-429"))
    assert result.verdict is Verdict.TRUE and "SigV4" not in result.test
    assert "canary-bedrock-api-key-19ab" not in result.to_json() + repr(result)


def test_a_refused_bedrock_api_key_is_inconclusive_and_masked(provider_standin, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "canary-bedrock-api-key-19ab")
    result = run("llm.token_quota", provider_standin.reference("bedrock-access-denied"))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "rejected AWS_BEARER_TOKEN_BEDROCK (…19ab) (http_403 AccessDeniedException" in result.summary
    assert "auth_rejected" in kinds(result)
    assert "canary-bedrock-api-key-19ab" not in result.to_json() + repr(result) + result.test


def test_bedrock_without_credentials_says_exactly_what_is_missing(provider_standin, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    result = run("llm.token_quota", provider_standin.reference("bedrock-headroom"))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert (
        "no call made: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or "
        "AWS_BEARER_TOKEN_BEDROCK." in result.summary
    )
    assert result.summary.count("AWS_BEARER_TOKEN_BEDROCK") == 1
    assert result.test == ""


def test_bedrock_without_botocore_says_how_to_install_it(provider_standin, tmp_path):
    script = (
        "import sys; sys.modules['botocore'] = None\n"  # as if it were not installed
        "from incident_lab import run\n"
        f"print(run('llm.token_quota', {provider_standin.reference('bedrock-headroom')!r}).summary)\n"
    )
    # From a folder outside the checkout: `python -c` puts the working folder first on sys.path, and the
    # checkout's incident_lab/ (without its probes, installed from probes/) would shadow the installed one.
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    assert "botocore is not installed (pip install 'incident-lab[bedrock]')" in completed.stdout


def test_bedrock_region_comes_from_the_host_or_the_environment(monkeypatch):
    assert LlmTarget.parse("https://bedrock-runtime.eu-west-1.amazonaws.com").provider == "bedrock"
    assert LlmTarget.parse("bedrock").label == "bedrock@https://bedrock-runtime.us-east-1.amazonaws.com"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(TargetError, match="AWS_REGION or AWS_DEFAULT_REGION"):
        LlmTarget.parse("bedrock")


def test_vertex_and_gemini_references(monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "shop-prod")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-west4")
    assert LlmTarget.parse("vertex").label == (
        "vertex@https://europe-west4-aiplatform.googleapis.com/v1/projects/shop-prod/locations/europe-west4"
    )
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    with pytest.raises(TargetError, match="GOOGLE_CLOUD_PROJECT"):
        LlmTarget.parse("vertex")
    assert LlmTarget.parse("gemini").label == "gemini@https://generativelanguage.googleapis.com/v1beta"
    assert LlmTarget.parse("https://api.mistral.ai/v1").provider == "mistral"


# OpenTelemetry GenAI spans, OTLP/JSON as the file exporter writes them.


def attribute(key: str, value: object) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}  # int64 travels as a string
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}}
    return {"key": key, "value": {"stringValue": str(value)}}


def span(number: int, provider: str, model: str, *, error: str | None = None, reasons=("stop",)) -> dict:
    start = int(dt.datetime(2026, 11, 28, 14, 5, number % 60, tzinfo=dt.UTC).timestamp() * 1e9)
    attributes = [
        attribute("gen_ai.operation.name", "chat"),
        attribute("gen_ai.provider.name", provider),
        attribute("gen_ai.request.model", model),
        attribute("gen_ai.usage.input_tokens", 1200),
        attribute("gen_ai.usage.output_tokens", 0 if error else 80),
        attribute("gen_ai.response.finish_reasons", list(reasons)),
    ]
    record = {
        "traceId": f"{number:032x}",
        "spanId": f"{number:016x}",
        "name": f"chat {model}",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 400_000_000),
        "attributes": attributes,
    }
    if error:
        record["attributes"] += [attribute("http.response.status_code", 429), attribute("error.type", "429")]
        record["events"] = [
            {
                "timeUnixNano": str(start + 300_000_000),
                "name": "exception",
                "attributes": [
                    attribute("exception.type", "RateLimitError"),
                    attribute("exception.message", error),
                ],
            }
        ]
        record["status"] = {"code": 2, "message": "RateLimitError"}
    return record


def traces(spans: list[dict]) -> str:
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [attribute("service.name", "checkout-agent")]},
                "scopeSpans": [
                    {"scope": {"name": "opentelemetry.instrumentation.openai_v2"}, "spans": spans}
                ],
            }
        ]
    }
    return json.dumps(document) + "\n"


# As openai-python's RateLimitError prints itself: the body as a Python dict.
OPENAI_TPM = (
    "Error code: 429 - {'error': {'message': 'Rate limit reached for gpt-4o-mini in organization org-demo on "
    "tokens per min (TPM): Limit 30000, Used 29800, Requested 1280. Please try again in 2.16s.', "
    "'type': 'tokens', 'param': None, 'code': 'rate_limit_exceeded'}}"
)


def test_an_opentelemetry_export_with_token_rate_429s_confirms(monkeypatch, tmp_path):
    monkeypatch.delenv("GOOGLE_API_KEY")
    spans = [span(n, "openai", "gpt-4o-mini") for n in range(30)]
    spans += [span(100 + n, "openai", "gpt-4o-mini", error=OPENAI_TPM) for n in range(6)]
    path = tmp_path / "traces.jsonl"
    path.write_text(traces(spans[:18]) + traces(spans[18:]))  # JSON Lines: one TracesData a line
    result = run("llm.token_quota", "openai", {"export_path": str(path)})
    assert result.verdict is Verdict.TRUE, result.summary
    assert "Token-rate refusals repeat: 6 of 36 answers (17%)" in result.summary
    assert ("export", True, "36 spans from traces.jsonl") in result.table("sources").rows
    row = headroom(result)[0]
    assert (row["limit_kind"], row["limit"], row["remaining"], row["source"]) == (
        "tokens per minute",
        30000,
        200,
        "export refusal",
    )
    assert result.test == ""  # read from the agent's telemetry: no request, no token


def test_spans_carry_their_own_provider_and_truncation_is_not_the_quota(monkeypatch, tmp_path):
    spans = [span(n, "gcp.gemini", "gemini-2.5-flash", reasons=("MAX_TOKENS",)) for n in range(5)]
    spans += [span(10 + n, "gcp.gemini", "gemini-2.5-flash") for n in range(5)]
    path = tmp_path / "traces.json"
    path.write_text(json.dumps(json.loads(traces(spans)), indent=2))  # one pretty-printed document
    result = run("llm.token_quota", "openai", {"export_path": str(path), "send_request": False})
    assert result.verdict is Verdict.FALSE, result.summary
    assert "answers cut off at the request's own max_tokens" in result.summary
    assert {row["provider"] for row in result.table("signals").records()} == {"gemini"}


def test_tokens_per_minute_from_spans_count_against_the_limit(monkeypatch, tmp_path):
    spans = [span(n, "openai", "gpt-4o-mini") for n in range(30)]  # 30 spans of 1280 tokens in one minute
    path = tmp_path / "traces.jsonl"
    path.write_text(traces(spans))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = run("llm.token_quota", "openai", {"export_path": str(path), "tokens_per_minute_limit": 40000})
    assert [
        row["value"] for row in result.table("signals").records() if row["signal"] == "tokens_per_minute"
    ] == [38400]
    assert headroom(result)[0]["remaining"] == 1600 and headroom(result)[0]["source"] == "export usage"


def test_a_broken_span_file_is_named_not_fatal(monkeypatch, tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(traces([span(1, "openai", "gpt-4o-mini")]) + '{"resourceSpans": [{"scopeSpans": 7}]}\n{')
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = run("llm.token_quota", "openai", {"export_path": str(path)})
    problems = [
        row["value"] for row in result.table("signals").records() if row["signal"] == "unparsable_line"
    ]
    assert problems[0].startswith("line 2: not OTLP traces") and problems[1].startswith("broken JSON")


def test_the_export_path_parameter_accepts_a_home_relative_path(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    Path(tmp_path, "traces.jsonl").write_text(traces([span(1, "openai", "gpt-4o-mini", error=OPENAI_TPM)]))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = run("llm.token_quota", "openai", {"export_path": "~/traces.jsonl"})
    assert result.metric("errors_rate_tokens") == 1
