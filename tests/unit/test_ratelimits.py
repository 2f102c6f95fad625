"""Refusals classified into kinds, and rate-limit headers read, from providers' real shapes."""

import datetime as dt
import json

import pytest

from incident_lab.kinds.llm.ratelimits import (
    Seen,
    classify,
    parse_go_duration,
    parse_retry_after,
    read_headers,
)

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def body(message, type_=None, code=None, **details):
    error = {"message": message, "type": type_, "code": code}
    if details:
        error["details"] = details
    return json.dumps({"error": error})


@pytest.mark.parametrize(
    ("status", "text", "kind"),
    [
        (
            429,
            body(
                "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000",
                "tokens",
                "rate_limit_exceeded",
            ),
            "rate_tokens",
        ),
        (
            429,
            body("Rate limit reached on requests per min (RPM)", "requests", "rate_limit_exceeded"),
            "rate_requests",
        ),
        (
            429,
            body("You exceeded your current quota", "insufficient_quota", "insufficient_quota"),
            "hard_quota",
        ),
        (
            429,
            body(
                "Request too large for gpt-4o: Limit 30000, Requested 31538", "tokens", "rate_limit_exceeded"
            ),
            "request_too_large",
        ),
        (
            400,
            body("This model's maximum context length is 128000 tokens", code="context_length_exceeded"),
            "context_overflow",
        ),
        (
            529,
            json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            "provider_overload",
        ),
        (429, body("spend cap", "rate_limit_error", error_code="enforced_spend_limit_reached"), "hard_quota"),
        (400, body("You have reached your specified API usage limits"), "hard_quota"),
        (402, body("Insufficient credits"), "hard_quota"),
        (401, body("Incorrect API key provided"), "auth_rejected"),
        (503, "<html>Service Unavailable</html>", "server_error"),
        (429, "", "rate_limit"),
    ],
)
def test_each_refusal_is_classified(status, text, kind):
    assert classify(status, text, {})[0] == kind


def test_a_bare_429_is_told_apart_by_the_exhausted_header():
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-remaining-requests": "10"}
    assert classify(429, "", headers)[0] == "rate_tokens"


@pytest.mark.parametrize(
    ("text", "seconds"), [("6m0s", 360), ("644ms", 0.644), ("1h0m0s", 3600), ("1.5s", 1.5)]
)
def test_go_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


def test_retry_after_ms_wins_over_retry_after():
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}, NOW) == 1.5
    assert parse_retry_after({"retry-after": "Sat, 28 Nov 2026 12:00:30 GMT"}, NOW) == 30


def test_headers_become_rows_and_unreadable_ones_are_named_not_fatal():
    seen = Seen("live", "openai", "gpt-4o")
    headers = {
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "1500",
        "x-ratelimit-reset-tokens": "soon",
        "content-type": "application/json",
    }
    rows, sent = read_headers(headers, seen, success=True, now=NOW)
    assert sent == 3
    assert any(row.signal == "x-ratelimit-reset-tokens" and row.kind == "unparsable" for row in rows)
    assert any(row.ratio == pytest.approx(0.05) for row in rows if row.ratio is not None)


# Each new provider family's shapes, as the stand-in quotes them (see its module for sources).

from incident_lab.kinds.llm import otel  # noqa: E402
from incident_lab.kinds.llm.ratelimits import read_refusal  # noqa: E402
from incident_lab.kinds.llm.refusals import (  # noqa: E402
    next_pacific_midnight,
    overload_seen,
    parse_seconds,
    quota_kind,
)
from incident_lab.testing import provider_standin as standin  # noqa: E402


def google(code, status, message, *details):
    return json.dumps(standin._google_error(code, status, message, *details))


def reply_of(case):
    route = next(iter(r for path, r in standin.CASES[case].routes.items() if path.startswith("POST")))
    return route


@pytest.mark.parametrize(
    ("status", "text", "provider", "kind"),
    [
        (429, json.dumps(standin.GEMINI_TPM_429), "gemini", "rate_tokens"),
        (429, json.dumps(standin.GEMINI_DAILY_429), "gemini", "daily_quota"),
        (429, json.dumps(standin.GEMINI_ZERO_429), "gemini", "hard_quota"),
        (
            429,
            google(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
            "",
            "rate_limit",
        ),
        (
            503,
            google(503, "UNAVAILABLE", "This model is currently experiencing high demand."),
            "",
            "provider_overload",
        ),
        (400, json.dumps(standin.GEMINI_BAD_KEY), "gemini", "auth_rejected"),
        (403, json.dumps(standin.GEMINI_DISABLED), "gemini", "auth_rejected"),
        (
            400,
            google(
                400,
                "FAILED_PRECONDITION",
                "Gemini API free tier is not available in your country. "
                "Please enable billing on your project in Google AI Studio.",
            ),
            "gemini",
            "hard_quota",
        ),
        (
            429,
            google(429, "RESOURCE_EXHAUSTED", "Resource exhausted, please try again later."),
            "vertex",
            "provider_overload",
        ),
        (
            429,
            google(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource exhausted. Please try again later. Please refer to "
                "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
            ),
            "vertex",
            "provider_overload",
        ),
        (
            429,
            google(429, "RESOURCE_EXHAUSTED", "Too many requests. Exceeded the Provisioned Throughput."),
            "vertex",
            "rate_tokens",
        ),
        (
            429,
            google(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for aiplatform.googleapis.com/"
                "embed_content_input_tokens_per_minute_per_base_model "
                "with base model: text-embedding-004.",
            ),
            "vertex",
            "rate_tokens",
        ),
        (
            401,
            google(401, "UNAUTHENTICATED", "API keys are not supported by this API."),
            "vertex",
            "auth_rejected",
        ),
        (429, '{"message":"Too many tokens, please wait before trying again."}', "bedrock", "rate_tokens"),
        (
            400,
            json.dumps(
                {
                    "error": {
                        "message": "The input token count (25270) exceeds the maximum number of tokens "
                        "allowed (4000).",
                        "status": "INVALID_ARGUMENT",
                    }
                }
            ),
            "vertex",
            "context_overflow",
        ),
        (429, json.dumps(standin.VERTEX_DAILY_429), "vertex", "daily_quota"),
        (403, json.dumps(standin.VERTEX_PERMISSION_DENIED), "vertex", "auth_rejected"),
        (429, json.dumps(standin.MISTRAL_RATE_LIMITED), "mistral", "rate_limit"),
        (429, '{"message":"Requests rate limit exceeded"}', "mistral", "rate_requests"),
        (
            503,
            '{"object":"error","message":"Service tier capacity exceeded for this model.",'
            '"type":"invalid_request_error"}',
            "mistral",
            "provider_overload",
        ),
        (401, '{"detail":"Unauthorized"}', "mistral", "auth_rejected"),
        (
            429,
            body(
                "Rate limit reached for gpt-4o-mini on tokens per day (TPD): Limit 200000, Used 199500, "
                "Requested 900. Please try again in 7m12s.",
                "tokens",
                "rate_limit_exceeded",
            ),
            "openai",
            "daily_quota",
        ),
    ],
)
def test_each_provider_family_refusal_is_classified(status, text, provider, kind):
    assert read_refusal(status, text, {}, provider, NOW).kind == kind


@pytest.mark.parametrize(
    ("provider", "signal", "seen"),
    [
        ("vertex", "http_429", "Vertex AI's shared pay-as-you-go capacity (HTTP 429)"),
        ("vertex", "http_503", "Vertex AI HTTP 503"),
        ("gemini", "http_503", "the Gemini API HTTP 503"),
        ("anthropic", "http_529", "Anthropic HTTP 529"),
        ("mistral", "error", "Mistral"),
        ("a-gateway", "http_503", "a-gateway HTTP 503"),
    ],
)
def test_an_overload_is_named_in_its_providers_terms(provider, signal, seen):
    assert overload_seen(provider, signal) == seen


def test_only_vertex_overload_is_sent_to_vertex_only_remedies():
    busy = google(429, "RESOURCE_EXHAUSTED", "Resource exhausted, please try again later.")
    assert "global endpoint" in str(read_refusal(429, busy, {}, "vertex", NOW).remedy)
    assert "Vertex" not in str(read_refusal(429, busy, {}, "gemini", NOW).remedy)


@pytest.mark.parametrize(
    ("name", "message", "kind"),
    [
        ("ThrottlingException", "Too many tokens, please wait before trying again.", "rate_tokens"),
        ("ThrottlingException", "Too many requests, please wait before trying again.", "rate_requests"),
        ("ThrottlingException", "Too many tokens per day, please wait before trying again.", "daily_quota"),
        (
            "ServiceQuotaExceededException",
            "Your request exceeds the service quota for your account",
            "hard_quota",
        ),
        ("ModelNotReadyException", "Model is not ready for inference.", "model_not_ready"),
        (
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            "auth_rejected",
        ),
        ("ServiceUnavailableException", "Bedrock is unable to process your request.", "server_error"),
        (
            "ValidationException",
            "The maximum tokens you requested exceeds the model limit of 32768",
            "context_overflow",
        ),
    ],
)
def test_bedrock_errors_are_named_by_their_header(name, message, kind):
    status = {"ServiceQuotaExceededException": 400, "AccessDeniedException": 403, "ValidationException": 400}
    headers = {"x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    text = json.dumps({"message": message})
    assert (
        read_refusal(status.get(name, 503 if "Unavailable" in name else 429), text, headers, "", NOW).kind
        == kind
    )


def test_gemini_readings_carry_each_quota_its_limit_and_reset():
    refusal = read_refusal(429, json.dumps(standin.GEMINI_TPM_429), {}, "gemini", NOW)
    (reading,) = refusal.readings
    assert (reading.limit_kind, reading.limit, reading.remaining, reading.resets_in) == (
        "input tokens per minute (free tier)",
        250000,
        0,
        21.0,
    )
    daily = read_refusal(429, json.dumps(standin.GEMINI_DAILY_429), {}, "gemini", NOW).readings[0]
    assert daily.resets_at == dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)  # midnight in Los Angeles
    zero = read_refusal(429, json.dumps(standin.GEMINI_ZERO_429), {}, "gemini", NOW)
    assert [r.limit for r in zero.readings] == [0, 0] and "enable billing" in str(zero.remedy)


def test_gemini_region_quota_of_zero_from_error_info_is_a_hard_quota():
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "RATE_LIMIT_EXCEEDED",
        "metadata": {
            "quota_limit": "GenerateContentRequestsPerMinutePerProjectPerRegion",
            "quota_location": "us-west4",
            "quota_limit_value": "0",
        },
    }
    refusal = read_refusal(
        429, google(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric", info), {}, "", NOW
    )
    assert refusal.kind == "hard_quota"
    assert refusal.readings[0].detail == "GenerateContentRequestsPerMinutePerProjectPerRegion in us-west4"


def test_unreadable_parts_of_a_google_error_are_named():
    text = json.loads(
        standin.CASES["gemini-malformed"]
        .routes["POST /v1beta/models/gemini-2.5-flash:generateContent"]
        .payload()
    )
    refusal = read_refusal(429, json.dumps(text), {}, "gemini", NOW)
    assert refusal.kind == "rate_limit"
    assert refusal.unreadable == (
        "QuotaFailure.violations: 'GenerateContentInputTokensPerModelPerMinute'",
        "RetryInfo.retryDelay: 'soon'",
    )


def test_sdk_exception_text_holding_the_body_as_a_python_dict_is_read():
    text = "429 RESOURCE_EXHAUSTED. " + repr(standin.GEMINI_DAILY_429)
    assert read_refusal(429, text, {}, "gemini", NOW).kind == "daily_quota"


def test_mistral_month_and_minute_headers():
    seen = Seen("live", "mistral", "mistral-small-latest")
    rows, sent = read_headers(standin._mistral_limits(0, month=250), seen, success=False, now=NOW)
    assert sent == 6
    readings = {row.limit_kind: (row.value, row.limit) for row in rows if row.limit_kind}
    assert readings == {
        "tokens per minute": (0, 5000000),
        "requests per minute": (717, 720),
        "tokens per month": (250, 1000000000),
    }
    month_spent = {**standin._mistral_limits(4999911, month=0)}
    assert (
        read_refusal(429, json.dumps(standin.MISTRAL_RATE_LIMITED), month_spent, "mistral", NOW).kind
        == "hard_quota"
    )
    minute_spent = standin._mistral_limits(0)
    assert (
        read_refusal(429, json.dumps(standin.MISTRAL_RATE_LIMITED), minute_spent, "mistral", NOW).kind
        == "rate_tokens"
    )


def test_openai_daily_limit_reading_from_its_message():
    text = body(
        "Rate limit reached for gpt-4o-mini on tokens per day (TPD): Limit 200000, Used 199500, "
        "Requested 900. Please try again in 7m12s.",
        "tokens",
        "rate_limit_exceeded",
    )
    (reading,) = read_refusal(429, text, {}, "openai", NOW).readings
    assert (reading.limit_kind, reading.limit, reading.remaining, reading.resets_in) == (
        "tokens per day",
        200000,
        500,
        432,
    )


@pytest.mark.parametrize(
    ("now", "midnight"),
    [
        (dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC), dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)),
        (
            dt.datetime(2026, 3, 8, 9, 0, tzinfo=dt.UTC),
            dt.datetime(2026, 3, 9, 7, 0, tzinfo=dt.UTC),
        ),  # DST starts
        (dt.datetime(2026, 7, 1, 6, 59, tzinfo=dt.UTC), dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC)),
    ],
)
def test_google_daily_quotas_reset_at_midnight_pacific(now, midnight):
    assert next_pacific_midnight(now) == midnight


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("GenerateContentInputTokensPerModelPerMinute-FreeTier", "input tokens per minute (free tier)"),
        ("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "requests per day (free tier)"),
        (
            "aiplatform.googleapis.com/generate_content_requests_per_minute_per_project_per_base_model",
            "requests per minute",
        ),
        (
            "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
            "input tokens (free tier)",
        ),
    ],
)
def test_quota_names_say_what_they_limit_and_over_which_window(name, kind):
    assert quota_kind(name)[0] == kind


def test_protobuf_durations():
    assert parse_seconds("59s") == 59 and parse_seconds("34.074824224s") == pytest.approx(34.0748)
    assert parse_seconds({"seconds": "3", "nanos": 500000000}) == 3.5
    with pytest.raises(ValueError):
        parse_seconds("soon")


def test_otlp_values_and_concatenated_documents():
    attributes = [
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1234"}},
        {
            "key": "gen_ai.response.finish_reasons",
            "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}},
        },
        {"key": "exception.escaped", "value": {"stringValue": "False"}},
        {"key": "ratio", "value": {"doubleValue": 0.5}},
    ]
    assert otel.attribute_map(attributes) == {
        "gen_ai.usage.input_tokens": 1234,
        "gen_ai.response.finish_reasons": ["stop"],
        "exception.escaped": "False",
        "ratio": 0.5,
    }
    assert [line for line, _ in otel.documents('{"a": 1}\n{\n  "b": 2\n}\n')] == [1, 2]


def test_export_documents_are_found_with_the_line_each_starts_on():
    from incident_lab.kinds.llm.otel import documents

    text = '\n{"a": 1}\n\n  {"b":\n2} [3]\n\n\n"x"\n'
    assert list(documents(text)) == [(2, {"a": 1}), (4, {"b": 2}), (5, [3]), (8, "x")]
