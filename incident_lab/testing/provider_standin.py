"""A stand-in for LLM providers, status pages and a web service: a real HTTP server on
127.0.0.1 that answers each documented case, for incident_lab's tests and users' own.

Each case lives under its own path prefix, so one server serves them all:

    with ProviderStandIn() as standin:
        standin.url("openai-tpm-429")        # http://127.0.0.1:PORT/openai-tpm-429/v1
        standin.reference("openai-tpm-429")  # openai@http://127.0.0.1:PORT/openai-tpm-429/v1

`CASES` lists the provider and status-page cases. Two prefixes wrap any path:
`slow/MS/…` answers after MS milliseconds and `hang/…` never answers (until the server
stops). A web service stands in under `http/`: `http/ok`, `http/status/CODE`,
`http/flaky/N/…` (every Nth request to that exact path answers 503), `http/drop`
(closes the connection without answering) and `http/redirect/PATH` (302 to `/PATH`).
Provider cases answer 401 to a request without a key. The pytest fixture is
`provider_standin` in `incident_lab.testing.fixtures`.

Bedrock cases check the request's SigV4 signature against `AWS_CREDENTIALS` (with
botocore, when installed) and answer 403 as AWS does when it does not match; they also
take a Bedrock API key as a bearer token. `ProviderStandIn(certificate=…)` serves HTTPS
with a certificate from `self_signed_certificate`. The server speaks HTTP/1.1 and keeps
connections alive; `peers` records which client port sent each request.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

AUTH_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")
# The stand-in's AWS account: Bedrock cases accept requests signed with this key pair.
AWS_CREDENTIALS = {"AKIASTANDIN0EXAMPLE7": "standin/SigV4/secret+for+tests+only/0000"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # below the case's prefix
    query: Mapping[str, list[str]]
    headers: Message
    body: bytes = b""
    full_path: str = ""  # as sent, prefix included: what a signature covers

    @property
    def key(self) -> str | None:
        for name in AUTH_HEADERS:
            if self.headers.get(name):
                return str(self.headers[name]).removeprefix("Bearer ")
        if self.query.get("key"):  # Gemini also takes ?key=
            return self.query["key"][0]
        return None


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None  # dict or list: sent as JSON; str: sent as it is
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if isinstance(self.body, str):
            return self.body.encode()
        return b"" if self.body is None else json.dumps(self.body).encode()


Route = Reply | Callable[[Request], Reply]


@dataclass(frozen=True)
class Case:
    provider: (
        str  # openai, anthropic, azure, openrouter, litellm, gemini, vertex, bedrock, mistral, or status
    )
    mount: str  # what follows the prefix in the base URL a client is given
    routes: Mapping[str, Route]  # "METHOD /path" below the prefix
    open: bool = False  # answers without a key (status pages)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _rfc3339(seconds_ahead: float) -> str:
    return (_now() + dt.timedelta(seconds=seconds_ahead)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minute(offset: int) -> dt.datetime:
    return _now().replace(second=0, microsecond=0) + dt.timedelta(minutes=offset)


# OpenAI

MODELS = {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "system"}]}
COMPLETION = {
    "id": "chatcmpl-standin",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "p"}, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
}


def _openai_limits(remaining_tokens: int, reset_tokens: str = "6m0s") -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": str(remaining_tokens),
        "x-ratelimit-reset-tokens": reset_tokens,
        "x-request-id": "req_standin_openai",
    }


def _openai_error(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


TPM_MESSAGE = (
    "Rate limit reached for gpt-4o-mini in organization org-standin on tokens per min (TPM): "
    "Limit 30000, Used 29937, Requested 385. Please try again in 644ms."
)
TOO_LARGE_MESSAGE = (
    "Request too large for gpt-4o-mini in organization org-standin on tokens per min (TPM): "
    "Limit 30000, Requested 31538. The input or output tokens must be reduced in order to run successfully."
)


def _openai_case(completion: Route, extra: Mapping[str, Route] | None = None) -> Case:
    routes: dict[str, Route] = {"GET /v1/models": Reply(200, MODELS), "POST /v1/chat/completions": completion}
    return Case("openai", "/v1", {**routes, **(extra or {})})


def _openai_bad_key(request: Request) -> Reply:
    """A 401 quoting the key it was given, as providers' messages do (in part)."""
    message = f"Incorrect API key provided: {request.key}. You can find your API key at the dashboard."
    return Reply(401, _openai_error(message, "invalid_request_error", "invalid_api_key"))


def _openai_usage(request: Request) -> Reply:
    """Two pages of minute buckets; the two fullest minutes straddle the page break, so
    only a client that follows `next_page` sees them side by side."""
    second_page = request.query.get("page") == ["page-2"]
    tokens = [29800, 15000, 0] if second_page else [9000, 12000, 29500]
    first = -3 if second_page else -6
    buckets = [
        {
            "object": "bucket",
            "start_time": int(_minute(first + n).timestamp()),
            "end_time": int(_minute(first + n + 1).timestamp()),
            "results": [
                {
                    "object": "organization.usage.completions.result",
                    "input_tokens": count * 9 // 10,
                    "output_tokens": count - count * 9 // 10,
                    "input_cached_tokens": 0,
                    "num_model_requests": count // 1000,
                    "model": "gpt-4o-mini",
                }
            ]
            if count
            else [],
        }
        for n, count in enumerate(tokens)
    ]
    body = {"object": "page", "data": buckets, "has_more": not second_page}
    body["next_page"] = None if second_page else "page-2"
    return Reply(200, body)


# Anthropic

MESSAGE = {
    "id": "msg_standin",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5",
    "content": [{"type": "text", "text": "p"}],
    "stop_reason": "max_tokens",
    "usage": {"input_tokens": 8, "output_tokens": 1},
}


def _anthropic_limits(tokens: int, input_tokens: int, output_tokens: int) -> dict[str, str]:
    headers = {
        "anthropic-ratelimit-requests-limit": "4000",
        "anthropic-ratelimit-requests-remaining": "3999",
        "anthropic-ratelimit-requests-reset": _rfc3339(1),
        "request-id": "req_standin_anthropic",
    }
    for name, remaining, limit in (
        ("tokens", tokens, 480000),
        ("input-tokens", input_tokens, 400000),
        ("output-tokens", output_tokens, 80000),
    ):
        headers[f"anthropic-ratelimit-{name}-limit"] = str(limit)
        headers[f"anthropic-ratelimit-{name}-remaining"] = str(remaining)
        headers[f"anthropic-ratelimit-{name}-reset"] = _rfc3339(30)
    return headers


def _anthropic_error(type_: str, message: str, **details: str) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type_, "message": message}
    if details:
        error["details"] = details
    return {"type": "error", "error": error, "request_id": "req_standin_anthropic_error"}


def _anthropic_case(messages: Route, extra: Mapping[str, Route] | None = None) -> Case:
    routes: dict[str, Route] = {
        "GET /v1/models": Reply(
            200, {"data": [{"id": "claude-haiku-4-5", "type": "model"}], "has_more": False}
        ),
        "POST /v1/messages": messages,
    }
    return Case("anthropic", "", {**routes, **(extra or {})})


def _anthropic_headroom(_: Request) -> Reply:
    return Reply(200, MESSAGE, _anthropic_limits(400000, 320000, 79000))


def _anthropic_429(_: Request) -> Reply:
    message = (
        "This request would exceed the rate limit for your organization (org-standin) of 400,000 "
        "input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."
    )
    headers = {**_anthropic_limits(0, 0, 79000), "retry-after": "30"}
    return Reply(429, _anthropic_error("rate_limit_error", message), headers)


def _anthropic_usage(request: Request) -> Reply:
    """Two pages of minute buckets, one of them empty (as the API includes them)."""
    second_page = request.query.get("page") == ["page-2"]
    tokens = [10000, 9000] if second_page else [8000, 12000, None]
    first = -2 if second_page else -5
    buckets = [
        {
            "starting_at": _minute(first + n).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ending_at": _minute(first + n + 1).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "results": []
            if count is None
            else [
                {
                    "uncached_input_tokens": count // 2,
                    "cache_read_input_tokens": 50000,  # not counted against the limit
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": count // 4,
                        "ephemeral_1h_input_tokens": 0,
                    },
                    "output_tokens": count - count // 2 - count // 4,
                    "model": "claude-haiku-4-5",
                }
            ],
        }
        for n, count in enumerate(tokens)
    ]
    body = {"data": buckets, "has_more": not second_page, "next_page": None if second_page else "page-2"}
    return Reply(200, body)


# Azure OpenAI, OpenRouter, LiteLLM

AZURE_429 = (
    "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have "
    "exceeded token rate limit of your current AIServices S0 pricing tier. Please retry after 6 seconds."
)


def _azure_case(completion: Reply) -> Case:
    routes: dict[str, Route] = {
        "GET /openai/v1/models": Reply(200, MODELS),
        "POST /openai/v1/chat/completions": completion,
    }
    return Case("azure", "", routes)


def _openrouter_case(limit: float | None, remaining: float | None, completion: Reply) -> Case:
    key = {
        "label": "sk-or-v1-sta…ndin",
        "limit": limit,
        "limit_remaining": remaining,
        "limit_reset": None,
        "usage": 20.0 if limit else 3.5,
        "usage_daily": 1.5,
        "is_free_tier": False,
    }
    routes: dict[str, Route] = {
        "GET /api/v1/key": Reply(200, {"data": key}),
        "GET /api/v1/models": Reply(200, {"data": [{"id": "openai/gpt-4o-mini"}]}),
        "POST /api/v1/chat/completions": completion,
    }
    return Case("openrouter", "/api/v1", routes)


BUDGET_EXCEEDED = {
    "error": {
        "message": "Budget has been exceeded! Current cost: 12.5, Max budget: 10.0",
        "type": "budget_exceeded",
        "param": None,
        "code": "400",
    }
}


def _litellm_case(info: dict[str, Any], models: Reply, completion: Reply) -> Case:
    routes: dict[str, Route] = {
        "GET /key/info": Reply(200, {"key": "sk-…standin", "info": info}),
        "GET /v1/models": models,
        "POST /v1/chat/completions": completion,
    }
    return Case("litellm", "", routes)


# Gemini API (generativelanguage.googleapis.com/v1beta)

GEMINI_MODELS = {
    "models": [
        {
            "name": "models/gemini-2.5-flash",
            "displayName": "Gemini 2.5 Flash",
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }
    ]
}
GEMINI_ANSWER = {
    "candidates": [
        {"content": {"parts": [{"text": "p"}], "role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}
    ],
    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
    "modelVersion": "gemini-2.5-flash",
}
GEMINI_QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more information on "
    "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
GEMINI_HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}


def _google_error(code: int, status: str, message: str, *details: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return {"error": error}


def _quota_failure(*violations: tuple[str, str, str | None]) -> dict[str, Any]:
    """(quotaMetric, quotaId, quotaValue) for each violated quota."""
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": f"generativelanguage.googleapis.com/{metric}",
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                **({"quotaValue": value} if value is not None else {}),
            }
            for metric, quota_id, value in violations
        ],
    }


def _retry_info(delay: Any) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


def _gemini_case(generate: Route, models: Route = Reply(200, GEMINI_MODELS)) -> Case:
    routes: dict[str, Route] = {
        "GET /v1beta/models": models,
        "POST /v1beta/models/gemini-2.5-flash:generateContent": generate,
    }
    return Case("gemini", "/v1beta", routes)


# From glidea/one-balance#22 (2025-08): per-minute input tokens, with the quota's value.
GEMINI_TPM_429 = _google_error(
    429,
    "RESOURCE_EXHAUSTED",
    GEMINI_QUOTA_MESSAGE,
    _quota_failure(
        (
            "generate_content_free_tier_input_token_count",
            "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            "250000",
        )
    ),
    GEMINI_HELP,
    _retry_info("21s"),
)
# From voideditor/void#557 (2025-05): the free tier's requests per day; retryDelay is short all the same.
GEMINI_DAILY_429 = _google_error(
    429,
    "RESOURCE_EXHAUSTED",
    GEMINI_QUOTA_MESSAGE,
    _quota_failure(
        ("generate_content_free_tier_requests", "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "25")
    ),
    GEMINI_HELP,
    _retry_info("5s"),
)
# From continuedev/continue#10085 (2026-02): a model the free tier does not include at all (limit: 0);
# the model there was gemini-2.5-pro, here it is the stand-in's.
GEMINI_ZERO_429 = _google_error(
    429,
    "RESOURCE_EXHAUSTED",
    GEMINI_QUOTA_MESSAGE + " To monitor your current usage, head to: https://ai.dev/rate-limit. \n"
    "* Quota exceeded for metric: generativelanguage.googleapis.com/"
    "generate_content_free_tier_input_token_count, limit: 0, model: gemini-2.5-flash\n"
    "* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, "
    "limit: 0, model: gemini-2.5-flash\nPlease retry in 38.863719904s.",
    GEMINI_HELP,
    _quota_failure(
        (
            "generate_content_free_tier_input_token_count",
            "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            None,
        ),
        ("generate_content_free_tier_requests", "GenerateRequestsPerDayPerProjectPerModel-FreeTier", None),
    ),
    _retry_info("38s"),
)
GEMINI_BAD_KEY = _google_error(
    400,
    "INVALID_ARGUMENT",
    "API key not valid. Please pass a valid API key.",
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    },
)
GEMINI_DISABLED = _google_error(
    403,
    "PERMISSION_DENIED",
    "Generative Language API has not been used in project 411082643095 before or it is disabled. Enable it "
    "by visiting https://console.developers.google.com/apis/api/generativelanguage.googleapis.com/overview"
    "?project=411082643095 then retry.",
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "SERVICE_DISABLED",
        "domain": "googleapis.com",
        "metadata": {"consumer": "projects/411082643095", "service": "generativelanguage.googleapis.com"},
    },
)

# Vertex AI (aiplatform.googleapis.com): Gemini on a project, OAuth bearer tokens.

VERTEX_MOUNT = "/v1/projects/standin/locations/us-central1"
VERTEX_ANSWER = {
    **GEMINI_ANSWER,
    "usageMetadata": {**GEMINI_ANSWER["usageMetadata"], "trafficType": "ON_DEMAND"},
}


def _vertex_case(generate: Route) -> Case:
    path = f"POST {VERTEX_MOUNT}/publishers/google/models/gemini-2.5-flash:generateContent"
    return Case("vertex", VERTEX_MOUNT, {path: generate})


# From google-gemini/gemini-cli#10513 (2025-10): a per-day quota in Google Cloud's quota envelope
# (`errors[].reason` and an ErrorInfo naming the quota in `metadata`), as Google's Cloud backend for
# Gemini sends it, quoted as it is (service cloudcode-pa, model gemini-2.5-pro). Vertex AI documents
# no per-day Gemini quota of its own; this is the shape a per-day quota on a Cloud project takes.
VERTEX_DAILY_MESSAGE = (
    "Quota exceeded for quota metric 'Gemini 2.5 Pro Requests' and limit 'Gemini 2.5 Pro Requests per day "
    "per user per tier' of service 'cloudcode-pa.googleapis.com' for consumer 'project_number:681255809395'."
)
VERTEX_DAILY_429 = {
    "error": {
        "code": 429,
        "message": VERTEX_DAILY_MESSAGE,
        "errors": [{"message": VERTEX_DAILY_MESSAGE, "domain": "global", "reason": "rateLimitExceeded"}],
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": {
                    "quota_metric": "cloudcode-pa.googleapis.com/gemini_2_5_pro_requests",
                    "quota_limit": "Gemini25ProRequestsPerDayPerUserPerTier",
                },
            }
        ],
    }
}
# Google Cloud IAM's refusal of a token whose principal lacks the permission (reason IAM_PERMISSION_DENIED).
VERTEX_PERMISSION_DENIED = _google_error(
    403,
    "PERMISSION_DENIED",
    "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/"
    "standin/locations/us-central1/publishers/google/models/gemini-2.5-flash' (or it may not exist).",
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "IAM_PERMISSION_DENIED",
        "domain": "aiplatform.googleapis.com",
        "metadata": {
            "permission": "aiplatform.endpoints.predict",
            "resource": "projects/standin/locations/us-central1/publishers/google/models/gemini-2.5-flash",
        },
    },
)

GOOGLE_FRONT_END_429 = (
    "<!DOCTYPE html><html lang=en><meta charset=utf-8><title>Error 429 (Too Many Requests)!!1</title>"
    "<p><b>429.</b> <ins>That's an error.</ins><p>We're sorry, but you have sent too many requests to us "
    "recently. <ins>That's all we know.</ins>"
)

# AWS Bedrock runtime: SigV4 (service "bedrock"), errors named in x-amzn-ErrorType.

BEDROCK_MODEL = "amazon.nova-micro-v1%3A0"  # as botocore sends it: the colon percent-encoded
BEDROCK_ANSWER = {
    "output": {"message": {"role": "assistant", "content": [{"text": "p"}]}},
    "stopReason": "max_tokens",
    "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
    "metrics": {"latencyMs": 120},
}


def _bedrock_error(status: int, name: str, message: str | None, body: str | None = None) -> Reply:
    headers = {
        "x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": "ca47a5ce-e260-4824-aa0e-2e62669d5d6e",
    }
    return Reply(status, body if body is not None else {"message": message}, headers)


def _sigv4_refusal(request: Request) -> Reply | None:
    """AWS's answer to a request whose signature does not check out, or None when it does
    (or when botocore, which recomputes it, is not installed)."""
    authorization = str(request.headers.get("authorization") or "")
    if authorization.startswith("Bearer "):  # a Bedrock API key
        return None
    found = re.match(
        r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/"
        r"aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]+)",
        authorization,
    )
    if not found:
        return _bedrock_error(
            403, "IncompleteSignature", "Authorization header requires 'Credential' parameter."
        )
    secret = AWS_CREDENTIALS.get(found["key"])
    if secret is None:
        return _bedrock_error(
            403, "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        return None
    names = found["signed"].split(";")
    headers = {name: str(request.headers.get(name)) for name in names if name != "host"}
    url = f"http://{request.headers.get('host')}{request.full_path}"
    signed = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
    signed.context["timestamp"] = str(request.headers.get("x-amz-date"))
    token = request.headers.get("x-amz-security-token")
    signer = SigV4Auth(Credentials(found["key"], secret, token), found["service"], found["region"])
    expected = signer.signature(signer.string_to_sign(signed, signer.canonical_request(signed)), signed)
    if expected != found["signature"] or found["service"] != "bedrock":
        return _bedrock_error(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.",
        )
    return None


def _bedrock_case(reply: Reply) -> Case:
    def converse(request: Request) -> Reply:
        return _sigv4_refusal(request) or reply

    return Case("bedrock", "", {f"POST /model/{BEDROCK_MODEL}/converse": converse})


# Mistral (api.mistral.ai/v1): per-minute and monthly token headers, a rate_limited body.
# Mistral enforces requests per second, tokens per minute and tokens per month, and no per-day
# limit (help.mistral.ai, "API rate limits"), so no Mistral case stands for a daily quota.


def _mistral_limits(minute: int, month: int | None = None) -> dict[str, str]:
    """The headers of mistralai/client-ts#169 (2026-02); the monthly pair as clients parse them."""
    headers = {
        "x-ratelimit-limit-tokens-minute": "5000000",
        "x-ratelimit-remaining-tokens-minute": str(minute),
        "x-ratelimit-tokens-query-cost": "52",
        "x-ratelimit-limit-req-minute": "720",
        "x-ratelimit-remaining-req-minute": "717",
    }
    if month is not None:
        headers["x-ratelimit-limit-tokens-month"] = "1000000000"
        headers["x-ratelimit-remaining-tokens-month"] = str(month)
    return headers


MISTRAL_RATE_LIMITED = {
    "object": "error",
    "message": "Rate limit exceeded",
    "type": "rate_limited",
    "param": None,
    "code": "1300",
}
MISTRAL_COMPLETION = {**COMPLETION, "id": "cmpl-standin", "model": "mistral-small-latest"}


def _mistral_case(completion: Route, models: Route | None = None) -> Case:
    listing = {
        "object": "list",
        "data": [{"id": "mistral-small-latest", "object": "model", "owned_by": "mistralai"}],
    }
    routes: dict[str, Route] = {
        "GET /v1/models": models or Reply(200, listing),
        "POST /v1/chat/completions": completion,
    }
    return Case("mistral", "/v1", routes)


# Status pages


def _statuspage(indicator: str, description: str, components: dict[str, str], incidents: list[Any]) -> Case:
    body = {
        "page": {
            "id": "standin",
            "name": "Stand-in AI",
            "url": "https://status.example",
            "updated_at": _rfc3339(0),
        },
        "status": {"indicator": indicator, "description": description},
        "components": [
            {"id": name.lower(), "name": name, "status": status} for name, status in components.items()
        ],
        "incidents": incidents,
        "scheduled_maintenances": [],
    }
    return Case("status", "/api/v2/summary.json", {"GET /api/v2/summary.json": Reply(200, body)}, open=True)


def _incident(name: str, impact: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "status": "investigating",
        "impact": impact,
        "created_at": _rfc3339(-600),
        "shortlink": "https://stspg.io/standin",
        "components": [{"name": component, "status": "major_outage"}],
        "incident_updates": [{"status": "investigating", "body": f"We are investigating {name.lower()}."}],
    }


HTML_PAGE = "<!doctype html><html><head><title>Status</title></head><body>All good, probably.</body></html>"

CASES: dict[str, Case] = {
    "openai-headroom": _openai_case(Reply(200, COMPLETION, _openai_limits(27000))),
    "openai-tpm-429": _openai_case(
        Reply(
            429,
            _openai_error(TPM_MESSAGE, "tokens", "rate_limit_exceeded"),
            {**_openai_limits(0, "644ms"), "retry-after": "1"},
        )
    ),
    "openai-too-large": _openai_case(
        Reply(429, _openai_error(TOO_LARGE_MESSAGE, "tokens", "rate_limit_exceeded"), _openai_limits(30000))
    ),
    "openai-insufficient-quota": _openai_case(
        Reply(
            429,
            _openai_error(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            ),
        )  # no retry-after: waiting will not help
    ),
    "openai-no-headers": _openai_case(Reply(200, COMPLETION, {"x-request-id": "req_standin_bare"})),
    "openai-context": _openai_case(
        Reply(
            400,
            _openai_error(
                "This model's maximum context length is 128000 tokens. However, your messages resulted in "
                "130512 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                "context_length_exceeded",
                "messages",
            ),
        )
    ),
    "openai-usage": _openai_case(
        Reply(200, COMPLETION, _openai_limits(27000)),
        {"GET /v1/organization/usage/completions": _openai_usage},
    ),
    "openai-server-error": _openai_case(
        Reply(503, _openai_error("The server is overloaded or not ready yet.", "server_error", None))
    ),
    "openai-malformed": _openai_case(
        Reply(
            200,
            COMPLETION,
            {
                "x-ratelimit-limit-tokens": "30k",
                "x-ratelimit-remaining-tokens": "lots",
                "x-ratelimit-reset-tokens": "in a while",
            },
        )
    ),
    "openai-bad-key": Case(
        "openai", "/v1", {"GET /v1/models": _openai_bad_key, "POST /v1/chat/completions": _openai_bad_key}
    ),
    "anthropic-headroom": _anthropic_case(_anthropic_headroom),
    "anthropic-429": _anthropic_case(_anthropic_429),
    "anthropic-spend-cap": _anthropic_case(
        Reply(
            429,
            _anthropic_error(
                "rate_limit_error",
                "Your organization has reached its monthly spend limit.",
                error_code="enforced_spend_limit_reached",
            ),
        )  # no retry-after: someone must raise the cap
    ),
    "anthropic-usage-limit": _anthropic_case(
        Reply(
            400,
            _anthropic_error(
                "invalid_request_error",
                "You have reached your specified API usage limits. "
                "You will regain access on 2026-01-01 at 00:00 UTC.",
            ),
        )
    ),
    "anthropic-overloaded": _anthropic_case(Reply(529, _anthropic_error("overloaded_error", "Overloaded"))),
    "anthropic-prompt-too-long": _anthropic_case(
        Reply(
            400,
            _anthropic_error("invalid_request_error", "prompt is too long: 214384 tokens > 200000 maximum"),
        )
    ),
    "anthropic-usage": _anthropic_case(
        _anthropic_headroom, {"GET /v1/organizations/usage_report/messages": _anthropic_usage}
    ),
    "azure-429": _azure_case(
        Reply(
            429,
            {"error": {"code": "429", "message": AZURE_429}},
            {
                "retry-after-ms": "6000",
                "retry-after": "6",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-remaining-requests": "9",
                "apim-request-id": "req_standin_azure",
            },
        )
    ),
    "azure-no-data": _azure_case(
        Reply(200, COMPLETION, {"x-ratelimit-remaining-tokens": "-1", "x-ratelimit-remaining-requests": "-1"})
    ),
    "openrouter-credit": _openrouter_case(100.0, 80.0, Reply(200, COMPLETION)),
    "openrouter-no-credit": _openrouter_case(10.0, 0.0, Reply(200, COMPLETION)),
    "openrouter-402": _openrouter_case(
        None,
        None,
        Reply(
            402,
            {
                "error": {
                    "code": 402,
                    "message": "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
                }
            },
        ),
    ),
    "litellm-over-budget": _litellm_case(
        {"spend": 12.5, "max_budget": 10.0, "tpm_limit": None, "rpm_limit": None},
        Reply(400, BUDGET_EXCEEDED),
        Reply(400, BUDGET_EXCEEDED),
    ),
    "litellm-headroom": _litellm_case(
        {"spend": 1.2, "max_budget": None, "tpm_limit": None, "rpm_limit": None},
        Reply(200, MODELS),
        Reply(200, COMPLETION, {f"llm_provider-{k}": v for k, v in _openai_limits(25000).items()}),
    ),
    "gemini-headroom": _gemini_case(Reply(200, GEMINI_ANSWER)),
    "gemini-tpm-429": _gemini_case(Reply(429, GEMINI_TPM_429)),
    "gemini-daily": _gemini_case(Reply(429, GEMINI_DAILY_429)),
    "gemini-free-tier-zero": _gemini_case(Reply(429, GEMINI_ZERO_429)),
    "gemini-overloaded": _gemini_case(
        Reply(503, _google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."))
    ),
    "gemini-bad-key": _gemini_case(Reply(400, GEMINI_BAD_KEY), models=Reply(400, GEMINI_BAD_KEY)),
    "gemini-disabled": _gemini_case(Reply(403, GEMINI_DISABLED), models=Reply(403, GEMINI_DISABLED)),
    "gemini-malformed": _gemini_case(
        Reply(
            429,
            _google_error(
                429,
                "RESOURCE_EXHAUSTED",
                GEMINI_QUOTA_MESSAGE,
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": "GenerateContentInputTokensPerModelPerMinute",
                },
                _retry_info("soon"),
            ),
        )
    ),
    "vertex-headroom": _vertex_case(Reply(200, VERTEX_ANSWER)),
    "vertex-provisioned-429": _vertex_case(
        Reply(
            429,
            _google_error(
                429, "RESOURCE_EXHAUSTED", "Too many requests. Exceeded the Provisioned Throughput."
            ),
        )
    ),
    "vertex-quota-rpm": _vertex_case(
        Reply(
            429,
            _google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for aiplatform.googleapis.com/"
                "generate_content_requests_per_minute_per_project_per_base_model with base model: "
                "gemini-pro. Please submit a quota increase request. "
                "https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.",
            ),
        )
    ),
    "vertex-shared-capacity": _vertex_case(
        Reply(429, _google_error(429, "RESOURCE_EXHAUSTED", "Resource exhausted, please try again later."))
    ),
    "vertex-billing-disabled": _vertex_case(
        Reply(
            403,
            _google_error(
                403,
                "PERMISSION_DENIED",
                "This API method requires billing to be enabled. Please enable billing on project "
                "#standin by visiting https://console.developers.google.com/billing/enable?project=standin "
                "then retry.",
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "BILLING_DISABLED",
                    "domain": "googleapis.com",
                    "metadata": {"consumer": "projects/standin", "service": "aiplatform.googleapis.com"},
                },
            ),
        )
    ),
    "vertex-bad-token": _vertex_case(
        Reply(
            401,
            _google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            ),
        )
    ),
    "vertex-daily": _vertex_case(Reply(429, VERTEX_DAILY_429)),
    "vertex-permission-denied": _vertex_case(Reply(403, VERTEX_PERMISSION_DENIED)),
    "vertex-malformed": _vertex_case(Reply(429, GOOGLE_FRONT_END_429, content_type="text/html")),
    "bedrock-headroom": _bedrock_case(Reply(200, BEDROCK_ANSWER)),
    "bedrock-tokens-429": _bedrock_case(
        _bedrock_error(429, "ThrottlingException", "Too many tokens, please wait before trying again.")
    ),
    "bedrock-daily": _bedrock_case(
        _bedrock_error(
            429, "ThrottlingException", "Too many tokens per day, please wait before trying again."
        )
    ),
    "bedrock-service-quota": _bedrock_case(
        _bedrock_error(
            400,
            "ServiceQuotaExceededException",
            "Your request exceeds the service quota for your account. You can view your quotas at "
            "https://console.aws.amazon.com/servicequotas/",
        )
    ),
    "bedrock-not-ready": _bedrock_case(
        _bedrock_error(429, "ModelNotReadyException", "Model is not ready for inference. Wait and try again.")
    ),
    "bedrock-access-denied": _bedrock_case(
        _bedrock_error(
            403, "AccessDeniedException", "You don't have access to the model with the specified model ID."
        )
    ),
    "bedrock-unavailable": _bedrock_case(
        _bedrock_error(503, "ServiceUnavailableException", "Bedrock is unable to process your request.")
    ),
    "bedrock-malformed": _bedrock_case(
        _bedrock_error(429, "ThrottlingException", None, body='{"message":"Too many tok')
    ),
    "mistral-headroom": _mistral_case(Reply(200, MISTRAL_COMPLETION, _mistral_limits(4999911))),
    "mistral-tpm-429": _mistral_case(
        Reply(429, MISTRAL_RATE_LIMITED, {**_mistral_limits(0), "Retry-After": "12"})
    ),
    "mistral-monthly": _mistral_case(
        Reply(429, MISTRAL_RATE_LIMITED, {**_mistral_limits(4999911, month=0), "Retry-After": "1"})
    ),
    "mistral-capacity": _mistral_case(
        Reply(
            503,
            {
                "object": "error",
                "message": "Service tier capacity exceeded for this model.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
        )
    ),
    "mistral-bad-key": _mistral_case(
        Reply(401, {"detail": "Unauthorized"}), models=Reply(401, {"detail": "Unauthorized"})
    ),
    "mistral-malformed": _mistral_case(
        Reply(
            200,
            MISTRAL_COMPLETION,
            {"x-ratelimit-limit-tokens-minute": "5M", "x-ratelimit-remaining-tokens-minute": "lots"},
        )
    ),
    "mistral-malformed-body": _mistral_case(
        # Cut off mid-body and without its rate-limit headers: the body is all there is to read.
        Reply(429, '{"object":"error","message":"Rate limit exc', {"Retry-After": "12"})
    ),
    "status-none": _statuspage(
        "none", "All Systems Operational", {"API": "operational", "Console": "operational"}, []
    ),
    "status-major": _statuspage(
        "major",
        "Partial System Outage",
        {"API": "major_outage", "Console": "operational"},
        [_incident("Elevated error rates on the API", "major", "API")],
    ),
    "status-minor-elsewhere": _statuspage(
        "minor",
        "Minor Service Outage",
        {"API": "operational", "Console": "degraded_performance"},
        [_incident("Slow console", "minor", "Console")],
    ),
    "status-html": Case(
        "status",
        "/api/v2/summary.json",
        {"GET /api/v2/summary.json": Reply(200, HTML_PAGE, content_type="text/html")},
        open=True,
    ),
}


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError(
            "the openssl command is needed to make a test certificate (apt-get install openssl)"
        )
    certificate, key = directory / "standin-cert.pem", directory / "standin-key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=incident-lab stand-in",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return certificate, key


class _Server(ThreadingHTTPServer):
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the request's own thread, so one slow client cannot hold up accept().
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # a client that does not trust the certificate hangs up: the point of some tests
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (the point of the slow and hanging cases) is not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError | socket.timeout):
            super().handle_error(request, client_address)


class ProviderStandIn:
    """The stand-in server; `start()` (or `with`) binds a free port on 127.0.0.1."""

    def __init__(self, certificate: tuple[Path, Path] | None = None) -> None:
        self.root = ""
        self.requests: list[tuple[str, str, bool]] = []  # method, path and query, whether a key came
        self.peers: list[int] = []  # the client port of each request: one port, one kept-alive connection
        self.certificate = certificate
        self._stopping = threading.Event()
        self._counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> ProviderStandIn:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.block_on_close = False  # a hanging case must not hold up stop()
        server.standin = self  # type: ignore[attr-defined]
        if self.certificate is not None:
            server.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server.tls.load_cert_chain(*self.certificate)
        self._server = server
        scheme = "https" if self.certificate else "http"
        self.root = f"{scheme}://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, name="provider stand-in", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ProviderStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, case: str) -> str:
        """The base URL (or, for a status page, the summary URL) a client is given for `case`."""
        return f"{self.root}/{case}{CASES[case].mount}"

    def reference(self, case: str, *, slow_ms: int = 0) -> str:
        """The `llm` target reference for a provider case, optionally answered slowly."""
        url = self.url(case)
        if slow_ms:
            url = url.replace(self.root, f"{self.root}/slow/{slow_ms}", 1)
        return f"{CASES[case].provider}@{url}"

    def seen(self, case: str) -> list[str]:
        """The requests made to one case so far, as `METHOD /path?query` below its prefix."""
        with self._lock:
            return [f"{m} {p.split(case, 1)[1]}" for m, p, _ in self.requests if f"/{case}/" in f"{p}/"]

    def answer(self, request: Request) -> Reply | None:
        """The reply to one request, or None to send nothing (a hang or a dropped connection)."""
        first, _, rest = request.path.strip("/").partition("/")
        if first == "slow":
            delay, _, rest = rest.partition("/")
            if self._stopping.wait(int(delay) / 1000):
                return None
            return self.answer(
                Request(
                    request.method,
                    f"/{rest}",
                    request.query,
                    request.headers,
                    request.body,
                    request.full_path,
                )
            )
        if first == "hang":
            self._stopping.wait()
            return None
        if first == "http":
            return self._web(request.method, rest)
        case = CASES.get(first)
        below = Request(
            request.method, f"/{rest}", request.query, request.headers, request.body, request.full_path
        )
        if case is None:
            return Reply(404, {"error": {"message": f"no stand-in case {first!r}", "type": "not_found"}})
        if not case.open and below.key is None:
            return Reply(401, {"error": {"message": "no API key", "type": "invalid_request_error"}})
        route = case.routes.get(f"{request.method if request.method != 'HEAD' else 'GET'} {below.path}")
        if route is None:
            return Reply(404, {"error": {"message": f"{first} has no {below.path}", "type": "not_found"}})
        return route(below) if callable(route) else route

    def _web(self, method: str, path: str) -> Reply | None:
        kind, _, rest = path.partition("/")
        if kind == "ok":
            return Reply(200, "ok\n", content_type="text/plain")
        if kind == "status":
            code = int(rest.split("/")[0])
            return Reply(code, f"status {code}\n", content_type="text/plain")
        if kind == "flaky":
            every = int(rest.split("/")[0])
            with self._lock:
                self._counters[path] += 1
                count = self._counters[path]
            if count % every == 0:
                return Reply(503, "upstream unavailable\n", content_type="text/plain")
            return Reply(200, "ok\n", content_type="text/plain")
        if kind == "drop":
            return None
        if kind == "redirect":
            return Reply(302, "", {"Location": f"/{rest}"}, content_type="text/plain")
        return Reply(404, "no such stand-in path\n", content_type="text/plain")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # connections stay open between requests, as providers' do

    def do_GET(self) -> None:
        standin: ProviderStandIn = self.server.standin  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query), self.headers, body, self.path)
        with standin._lock:
            standin.requests.append((self.command, self.path, request.key is not None))
            standin.peers.append(self.client_address[1])
        reply = standin.answer(request)
        if reply is None:
            self.close_connection = True
            return
        payload = reply.payload()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_POST = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read results, not access logs."""
