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
