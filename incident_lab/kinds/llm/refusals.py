"""What one refusal from a provider says: its kind, what it says about each limit it
ran into (the readings the headroom table shows), what in it could not be read, and
what the user can do about it.

The kinds are those of `ERROR_KINDS`, plus `auth_rejected`, `server_error` and
`other_error`; each provider family's module (`google`, `bedrock`, and the shared
OpenAI-style reading in `ratelimits`) turns its own shapes into a `Refusal`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

# Kinds an answer from the provider is classified into; each gets an `errors_KIND` metric.
ERROR_KINDS = (
    "rate_tokens",
    "rate_requests",
    "rate_limit",  # a 429 that says neither tokens nor requests
    "daily_quota",  # a per-day quota: it stays spent until the day's reset
    "hard_quota",  # credit, budget, spend or monthly cap, or a quota of 0: someone must act
    "request_too_large",
    "context_overflow",
    "provider_overload",
    "model_not_ready",
    "output_truncated",
)
RATE_KINDS = ("rate_tokens", "rate_requests", "rate_limit")
# Failures that explain an incident without the account's quota being at fault.
ALTERNATIVE_CAUSES = {
    "provider_overload": "provider overload (load across all the provider's users, not this account's limit)",
    "server_error": "provider server errors (HTTP 5xx)",
    "context_overflow": "prompts longer than the model's context window",
    "model_not_ready": "the model is not ready to serve (Bedrock ModelNotReadyException; SDKs retry it)",
    "output_truncated": "answers cut off at the request's own max_tokens (finish reason length)",
}

PROVIDER_NAMES = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "azure": "Azure OpenAI",
    "openrouter": "OpenRouter",
    "litellm": "the LiteLLM proxy",
    "gemini": "the Gemini API",
    "vertex": "Vertex AI",
    "bedrock": "Bedrock",
    "mistral": "Mistral",
}


def overload_seen(provider: str, signal: str) -> str:
    """What an overload answer was, in the provider's own terms: `Mistral HTTP 503`, or for
    Vertex AI's 429 "Resource exhausted, please try again later." its shared capacity."""
    name = PROVIDER_NAMES.get(provider, provider)
    code = signal.removeprefix("http_") if signal.startswith("http_") else ""
    if provider == "vertex" and code == "429":
        return "Vertex AI's shared pay-as-you-go capacity (HTTP 429)"
    return f"{name} HTTP {code}" if code else name


# Google's per-day quotas, and Google Cloud's daily quotas generally, reset at midnight Pacific time.
PACIFIC = ZoneInfo("America/Los_Angeles")
_WINDOW_WORDS = {"second": "second", "minute": "minute", "hour": "hour", "day": "day", "month": "month"}


@dataclass(frozen=True)
class Reading:
    """One limit as an answer reports it."""

    limit_kind: str  # "input tokens per minute (free tier)", "requests per day", "service quota"
    remaining: float | None
    limit: float | None = None
    resets_in: float | None = None  # seconds after the answer
    resets_at: dt.datetime | None = None  # when the provider's rules give a time instead
    model: str | None = None
    detail: str = ""

    @property
    def window(self) -> str | None:
        return next((w for w in _WINDOW_WORDS if f"per {w}" in self.limit_kind), None)

    def reset_time(self, observed: dt.datetime) -> dt.datetime | None:
        if self.resets_at is not None:
            return self.resets_at
        return observed + dt.timedelta(seconds=self.resets_in) if self.resets_in is not None else None


@dataclass(frozen=True)
class Refusal:
    kind: str
    message: str
    readings: tuple[Reading, ...] = ()
    unreadable: tuple[str, ...] = ()  # "RetryInfo.retryDelay: 'soon'": named, never fatal
    remedy: str | None = None


def next_pacific_midnight(now: dt.datetime) -> dt.datetime:
    """When a Google per-day quota resets: the next midnight in Los Angeles, in UTC."""
    local = now.astimezone(PACIFIC)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=PACIFIC)
    return midnight.astimezone(dt.UTC)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def parse_seconds(text: object) -> float:
    """A protobuf Duration as JSON (`"59s"`, `"34.07s"`, or `{"seconds": "3", "nanos": 5e8}`)."""
    if isinstance(text, dict):
        return float(text.get("seconds") or 0) + float(text.get("nanos") or 0) / 1e9
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return float(match[1])


def quota_kind(name: str) -> tuple[str, str | None]:
    """What a quota's name limits and over which window: `GenerateRequestsPerDayPerProjectPerModel`
    and `generate_content_requests_per_minute_per_project_per_base_model` alike."""
    flat = name.lower().replace("_", "").replace("-", "")
    if "inputtoken" in flat:
        what = "input tokens"
    elif "outputtoken" in flat:
        what = "output tokens"
    elif "token" in flat:
        what = "tokens"
    elif "request" in flat:
        what = "requests"
    else:
        what = "quota"
    window = next((w for w in _WINDOW_WORDS if f"per{w}" in flat), None)
    tier = " (free tier)" if "freetier" in flat else ""
    return (f"{what} per {window}{tier}" if window else f"{what}{tier}"), window


def rate_kind_for(readings: tuple[Reading, ...] | list[Reading]) -> str | None:
    """The kind a refusal's readings add up to: a limit of 0 is a hard quota (nothing is
    allowed on this tier or region), a spent per-day quota outlasts the per-minute ones."""
    if any(r.limit == 0 for r in readings):
        return "hard_quota"
    if any(r.window in ("day",) for r in readings):
        return "daily_quota"
    if any(r.window == "month" for r in readings):
        return "hard_quota"
    if any("token" in r.limit_kind for r in readings):
        return "rate_tokens"
    if any("request" in r.limit_kind for r in readings):
        return "rate_requests"
    return None
