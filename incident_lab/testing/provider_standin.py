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
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

AUTH_HEADERS = ("authorization", "x-api-key", "api-key")


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # below the case's prefix
    query: Mapping[str, list[str]]
    headers: Message

    @property
    def key(self) -> str | None:
        for name in AUTH_HEADERS:
            if self.headers.get(name):
                return str(self.headers[name]).removeprefix("Bearer ")
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
    provider: str  # openai, anthropic, azure, openrouter, litellm, or status
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


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (the point of the slow and hanging cases) is not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ProviderStandIn:
    """The stand-in server; `start()` (or `with`) binds a free port on 127.0.0.1."""

    def __init__(self) -> None:
        self.root = ""
        self.requests: list[tuple[str, str, bool]] = []  # method, path and query, whether a key came
        self._stopping = threading.Event()
        self._counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> ProviderStandIn:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.block_on_close = False  # a hanging case must not hold up stop()
        server.standin = self  # type: ignore[attr-defined]
        self._server = server
        self.root = f"http://127.0.0.1:{server.server_address[1]}"
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
            return self.answer(Request(request.method, f"/{rest}", request.query, request.headers))
        if first == "hang":
            self._stopping.wait()
            return None
        if first == "http":
            return self._web(request.method, rest)
        case = CASES.get(first)
        below = Request(request.method, f"/{rest}", request.query, request.headers)
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
    protocol_version = "HTTP/1.0"  # one request per connection: nothing to keep track of

    def do_GET(self) -> None:
        standin: ProviderStandIn = self.server.standin  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query), self.headers)
        with standin._lock:
            standin.requests.append((self.command, self.path, request.key is not None))
        reply = standin.answer(request)
        if reply is None:
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
