"""What LLM providers say about their limits, read into evidence rows and one headroom table.

Five kinds of answer carry it: rate-limit headers (OpenAI and Azure `x-ratelimit-*` with
Go-style durations, Anthropic `anthropic-ratelimit-*` with RFC 3339 resets, Mistral
`x-ratelimit-*-tokens-minute` and `…-month`, LiteLLM forwarding upstream ones with an
`llm_provider-` prefix), refusals (classified into kinds by each provider family's
reader: `google` for Gemini and Vertex AI, `bedrock`, and the OpenAI-style bodies here),
admin usage reports in minute buckets, credit or budget reports, and the agent's own
exports (JSONL or CSV responses, or OpenTelemetry spans, see `otel`). Providers change
these, so parsing is tolerant: what cannot be read becomes an `unparsable` row naming
it, never an exception.

Every reading of a limit carries its `limit_kind` ("tokens per minute", "requests per
day (free tier)", "credit"), and `QuotaEvidence.tables()` gathers them into the
`headroom` table, one row per provider, model or key, limit and source, so that which
limit is spent and when it resets is one row.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import email.utils
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from incident_lab.kinds.http.session import Response, safe_url
from incident_lab.kinds.llm import bedrock, google, otel
from incident_lab.kinds.llm.refusals import (
    ALTERNATIVE_CAUSES,
    ERROR_KINDS,
    RATE_KINDS,
    Reading,
    Refusal,
    overload_seen,
)
from incident_lab.redaction import scrub
from incident_lab.result import JsonScalar, Table, format_time, parse_time, utc_now
from incident_lab.wording import truncate

__all__ = ["ALTERNATIVE_CAUSES", "ERROR_KINDS", "RATE_KINDS", "QuotaEvidence", "classify", "read_refusal"]

COLUMNS = (
    "source",
    "provider",
    "model",
    "observed_at",
    "signal",
    "value",
    "limit",
    "ratio",
    "kind",
    "limit_kind",
    "resets_at",
    "request_id",
)
HEADROOM_COLUMNS = (
    "provider",
    "model_or_key",
    "limit_kind",
    "limit",
    "remaining",
    "resets_at",
    "source",
    "exhausted",
    "detail",
)

_RATELIMIT_HEADER = re.compile(
    r"^(?P<upstream>llm_provider-)?(?:"
    r"x-ratelimit-(?P<field>limit|remaining|reset)-(?P<dim>requests|req|tokens)(?:-(?P<window>[a-z0-9-]+))?"
    r"|anthropic-ratelimit-(?P<adim>requests|tokens|input-tokens|output-tokens)-(?P<afield>limit|remaining|reset)"
    r")$"
)
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_COUNT = re.compile(r"^-?\d+(?:\.\d+)?$")
_DAILY_WORDS = re.compile(r"(?:tokens?|requests?) per day|\b(?:tp|rp)d\b", re.I)
_TOKEN_LIMIT_WORDS = re.compile(
    r"tokens? per (?:min|minute)|\btpm\b|token rate limit|(?:input|output|request) tokens", re.I
)
_REQUEST_LIMIT_WORDS = re.compile(
    r"requests? per (?:min|minute)|\brpm\b|call rate limit|number of requests|requests rate limit", re.I
)
# OpenAI's "… on tokens per day (TPD): Limit 200000, Used 199500, Requested 900. Please try again in 7m12s."
_SAID_LIMIT = re.compile(r"Limit (?P<limit>\d+), Used (?P<used>\d+)")
_TRY_AGAIN = re.compile(r"try again in (?P<wait>[\d.]+(?:ms|s|m|h)(?:[\d.]+(?:ms|s|m))*)", re.I)
_HARD_QUOTA_WORDS = (
    "exceeded your current quota",
    "reached your specified api usage limits",
    "spend limit",
    "budget has been exceeded",
    "insufficient credits",
)
_CONTEXT_WORDS = ("maximum context length", "prompt is too long", "context length", "context window")
_CAPACITY_WORDS = ("service tier capacity exceeded", "capacity exceeded")
_REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "apim-request-id",
    "x-litellm-call-id",
    "x-amzn-requestid",
)
_TRUNCATED = {"length", "max_tokens", "max_output_tokens"}
GOOGLE = ("gemini", "vertex")
MAX_PROBLEMS_NAMED = 20  # an export of garbage names its first lines, then counts the rest


@dataclass(frozen=True)
class Observation:
    """One evidence row: a reading or a classified answer, and where it came from."""

    source: str  # live, export, usage_api, key_info
    provider: str
    model: str | None
    observed_at: str | None
    signal: str
    value: JsonScalar
    limit: float | None = None
    ratio: float | None = None
    kind: str | None = None
    request_id: str | None = None
    limit_kind: str | None = None  # set on readings of a limit: they make the headroom table
    resets_at: str | None = None
    via: str | None = None  # headers, refusal, usage, account
    detail: str | None = None
    remedy: str | None = None

    def describe(self) -> str:
        limit = f" of {self.limit:.15g}" if self.limit is not None else ""
        share = f" ({self.ratio:.0%})" if self.ratio is not None else ""
        return f"{self.signal} {self.value}{limit}{share} from {self.source}"

    def headline(self) -> str:
        """A limit reading as a sentence: `requests per day (free tier) for gemini-2.5-pro: 0 of 25 left`."""
        subject = f" for {self.model}" if self.model else ""
        if self.limit is not None:
            return f"{self.limit_kind}{subject}: {self.value:.15g} of {self.limit:.15g} left"
        return f"{self.limit_kind}{subject}: {'exhausted' if self.value == 0 else self.value}"


@dataclass(frozen=True)
class Seen:
    """Where and when a reading was taken: the columns its rows share."""

    source: str
    provider: str
    model: str | None = None
    observed_at: str | None = None
    request_id: str | None = None

    def row(
        self,
        signal: str,
        value: JsonScalar,
        *,
        limit: float | None = None,
        ratio: float | None = None,
        kind: str | None = None,
        **reading: str | None,
    ) -> Observation:
        value = scrub(value) if isinstance(value, str) else value
        ratio = round(ratio, 4) if ratio is not None else None
        return Observation(
            **asdict(self), signal=signal, value=value, limit=limit, ratio=ratio, kind=kind, **reading
        )

    def reading(self, reading: Reading, observed: dt.datetime, via: str) -> Observation:
        remaining, limit = reading.remaining, reading.limit
        ratio = remaining / limit if limit and remaining is not None else (0.0 if remaining == 0 else None)
        reset = reading.reset_time(observed)
        return Seen(
            self.source, self.provider, reading.model or self.model, self.observed_at, self.request_id
        ).row(
            f"{slug(reading.limit_kind)}_remaining",
            remaining if remaining is None or remaining % 1 else int(remaining),
            limit=limit,
            ratio=ratio,
            limit_kind=reading.limit_kind,
            resets_at=format_time(reset) if reset else None,
            via=via,
            detail=scrub(reading.detail) if reading.detail else None,
        )


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go `time.Duration` string: `6m0s`, `644ms`, `1h0m0s`, `0s`."""
    text = text.strip()
    if text == "0":
        return 0.0
    if not text or _GO_DURATION_PART.sub("", text):
        raise ValueError(f"not a Go duration: {text!r}")
    return sum(float(number) * _GO_UNITS[unit] for number, unit in _GO_DURATION_PART.findall(text))


def parse_reset(text: str, now: dt.datetime) -> float:
    """Seconds until a limit resets, from a Go duration, a number of seconds or an RFC 3339 time."""
    try:
        return parse_go_duration(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    moment = parse_time(text.strip())  # ValueError when it is not a time either
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - now).total_seconds()


def parse_retry_after(headers: Mapping[str, str], now: dt.datetime) -> float:
    """Seconds to wait, read the way openai-python does: `retry-after-ms`, then
    `retry-after` as seconds, then as an HTTP date; `ValueError` if unreadable."""
    if "retry-after-ms" in headers:
        return float(headers["retry-after-ms"]) / 1000
    text = headers["retry-after"].strip()
    try:
        return float(text)
    except ValueError:
        moment = email.utils.parsedate_to_datetime(text)  # ValueError or TypeError if not a date
        return (moment - now).total_seconds()


def _count(text: str) -> float:
    if not _COUNT.match(text.strip()):
        raise ValueError(text)
    return float(text)


def _header_dimension(match: re.Match[str]) -> tuple[str, str]:
    """The reading's name in signals (`tokens`, `input_tokens`, `tokens_per_month`) and its limit kind."""
    dimension = (match["dim"] or match["adim"]).replace("-", "_").replace("req", "requests", 1)
    dimension = dimension.replace("requestsuests", "requests")
    window = match["window"]
    # OpenAI, Azure and Anthropic document these limits as per minute; Mistral names its window.
    kind = f"{dimension.replace('_', ' ')} per {(window or 'minute').replace('-', ' ')}"
    if window:
        dimension = f"{dimension}_per_{window.replace('-', '_')}"
    if match["upstream"]:  # LiteLLM's own limits and the upstream provider's differ
        return f"upstream_{dimension}", f"{kind} (upstream)"
    return dimension, kind


def read_headers(
    headers: Mapping[str, str], seen: Seen, *, success: bool, now: dt.datetime
) -> tuple[list[Observation], int]:
    """Rows for the rate-limit headers of one answer, and how many such headers it had."""
    readings: dict[tuple[str, str], dict[str, float]] = {}
    rows: list[Observation] = []
    sent = 0
    for name, raw in headers.items():
        match = _RATELIMIT_HEADER.match(name)
        if not match:
            continue
        sent += 1
        field = match["field"] or match["afield"]
        try:
            value = parse_reset(raw, now) if field == "reset" else _count(raw)
        except (ValueError, OverflowError):
            rows.append(seen.row(name, raw, kind="unparsable"))
            continue
        readings.setdefault(_header_dimension(match), {})[field] = value
    retry: float | None = None
    if "retry-after-ms" in headers or "retry-after" in headers:
        try:
            retry = round(parse_retry_after(headers, now), 3)
        except (ValueError, TypeError):
            name = "retry-after-ms" if "retry-after-ms" in headers else "retry-after"
            rows.append(seen.row(name, headers[name], kind="unparsable"))
    for (dimension, limit_kind), reading in sorted(readings.items()):
        rows += _dimension_rows(dimension, limit_kind, reading, seen, success=success, now=now, retry=retry)
    if retry is not None:
        rows.append(seen.row("retry_after_s", retry))
    return rows, sent


def _dimension_rows(
    dimension: str,
    limit_kind: str,
    reading: Mapping[str, float],
    seen: Seen,
    *,
    success: bool,
    now: dt.datetime,
    retry: float | None,
) -> list[Observation]:
    limit, remaining, reset = reading.get("limit"), reading.get("remaining"), reading.get("reset")
    rows = []
    # Azure sends -1 when it has no data, and 0 on answers that plainly succeeded.
    no_data = (remaining is not None and remaining < 0) or (limit is not None and limit < 0)
    if seen.provider == "azure" and success and remaining == 0 and not limit:
        no_data = True
    if reset is None and remaining == 0 and retry is not None:
        reset = retry  # Mistral sends no reset headers; its 429 says when to come back
    resets_at = format_time(now + dt.timedelta(seconds=reset)) if reset is not None and not no_data else None
    if no_data:
        rows.append(seen.row(f"{dimension}_remaining", remaining, limit=limit, kind="no_data"))
    elif remaining is not None:
        # Anthropic rounds token counts to thousands: a 0 may hide a few hundred tokens.
        ratio = remaining / limit if limit else (0.0 if remaining == 0 else None)
        rows.append(
            seen.row(
                f"{dimension}_remaining",
                int(remaining),
                limit=limit,
                ratio=ratio,
                limit_kind=limit_kind,
                resets_at=resets_at,
                via="headers",
            )
        )
    elif limit is not None:
        rows.append(seen.row(f"{dimension}_limit", int(limit)))
    if reading.get("reset") is not None:
        rows.append(seen.row(f"{dimension}_reset_s", round(reading["reset"], 3)))
    return rows


def error_data(text: str) -> tuple[Any, bool]:
    """The body as data, and whether it was read: JSON, or JSON (or a Python dict's repr, as
    SDK exceptions print it) inside a line such as `Error code: 429 - {…}`."""
    text = text.strip()
    if not text:
        return None, True
    try:
        return json.loads(text), True
    except ValueError:
        pass
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None, False
    inner = text[start : end + 1]
    try:
        return json.loads(inner), True
    except ValueError:
        pass
    try:
        return ast.literal_eval(inner), True
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None, False


def error_object(data: Any) -> dict[str, Any]:
    """The error object: OpenAI's, Anthropic's, Azure's, Google's and OpenRouter's `error`,
    or the body itself where Mistral and Bedrock put the message at the top."""
    if not isinstance(data, dict):
        return {}
    error = data.get("error")
    if isinstance(error, dict):
        return error
    if isinstance(error, str):
        return {"message": error}
    if isinstance(data.get("detail"), str):  # Mistral's 401
        return {"message": data["detail"]}
    return data if "message" in data or data.get("object") == "error" else {}


def read_refusal(
    status: int, text: str, headers: Mapping[str, str], provider: str = "", now: dt.datetime | None = None
) -> Refusal:
    """What a refusal says, read by its family's rules: Bedrock by its error-type header,
    Google's APIs by their `google.rpc` envelope, everything else as OpenAI-style bodies."""
    now = now or utc_now()
    if provider == "bedrock" or bedrock.is_bedrock_error(headers):
        return bedrock.read_bedrock(status, text, headers)
    data, readable = error_data(text)
    unreadable = () if readable else (f"body: not JSON ({' '.join(text.split())[:60]!r})",)
    error = error_object(data)
    if provider in GOOGLE or google.is_google_error(error):
        found = google.read_google(status, error, now, provider)
        return Refusal(found.kind, found.message, found.readings, unreadable + found.unreadable, found.remedy)
    found = _read_openai_style(status, error, text, headers, now)
    return Refusal(found.kind, found.message, found.readings, unreadable, found.remedy)


def classify(status: int, text: str, headers: Mapping[str, str], provider: str = "") -> tuple[str, str]:
    """The kind of a refusal (one of `ERROR_KINDS`, or `auth_rejected`, `server_error`,
    `other_error`) and its message."""
    found = read_refusal(status, text, headers, provider)
    return found.kind, found.message


def _read_openai_style(
    status: int, error: Mapping[str, Any], text: str, headers: Mapping[str, str], now: dt.datetime
) -> Refusal:
    message = str(error.get("message") or " ".join(text.split())[:300] or f"HTTP {status}")
    details = error.get("details")
    tags = {str(error.get("type")).lower(), str(error.get("code")).lower()}
    if isinstance(details, dict):
        tags.add(str(details.get("error_code")).lower())
    lowered = message.lower()
    if status in (401, 403):
        return Refusal("auth_rejected", message)
    if (
        status == 402
        or tags & {"insufficient_quota", "budget_exceeded", "enforced_spend_limit_reached"}
        or any(words in lowered for words in _HARD_QUOTA_WORDS)
    ):
        return Refusal("hard_quota", message)
    if "request too large" in lowered or "request_too_large" in tags:
        return Refusal("request_too_large", message)
    if "context_length_exceeded" in tags or any(words in lowered for words in _CONTEXT_WORDS):
        return Refusal("context_overflow", message)
    if status == 529 or "overloaded_error" in tags or any(words in lowered for words in _CAPACITY_WORDS):
        return Refusal("provider_overload", message)
    if status == 429 or tags & {"rate_limit_error", "rate_limit_exceeded", "rate_limited"}:
        return _rate_refusal(tags, message, headers)
    if status >= 500:
        return Refusal("server_error", message)
    return Refusal("other_error", message)


def _rate_refusal(tags: set[str], message: str, headers: Mapping[str, str]) -> Refusal:
    exhausted = {
        name for name, value in headers.items() if _RATELIMIT_HEADER.match(name) and value.strip() == "0"
    }
    if any("month" in name and "remaining" in name for name in exhausted):
        # Mistral answers a spent monthly limit with the same body as a per-minute one.
        return Refusal("hard_quota", message, remedy="raise the monthly limit on the provider's console")
    if _DAILY_WORDS.search(message):
        what = "tokens" if "token" in message.lower() or "tpd" in message.lower() else "requests"
        return Refusal("daily_quota", message, (_said_reading(f"{what} per day", message),))
    if "tokens" in tags or _TOKEN_LIMIT_WORDS.search(message):
        return Refusal("rate_tokens", message, _said_readings("tokens per minute", message))
    if "requests" in tags or _REQUEST_LIMIT_WORDS.search(message):
        return Refusal("rate_requests", message, _said_readings("requests per minute", message))
    if any("token" in name and "remaining" in name for name in exhausted):
        return Refusal("rate_tokens", message)
    if any(
        "requests-remaining" in name or "remaining-requests" in name or "-req-" in name for name in exhausted
    ):
        return Refusal("rate_requests", message)
    return Refusal("rate_limit", message)


def _said_reading(limit_kind: str, message: str) -> Reading:
    """The limit an OpenAI-style message spells out: `Limit 200000, Used 199500 … try again in 7m12s`."""
    said, wait = _SAID_LIMIT.search(message), _TRY_AGAIN.search(message)
    limit = float(said["limit"]) if said else None
    remaining = max(0.0, limit - float(said["used"])) if said and limit is not None else 0.0
    try:
        resets_in = parse_go_duration(wait["wait"]) if wait else None
    except ValueError:
        resets_in = None
    return Reading(limit_kind, remaining, limit, resets_in=resets_in)


def _said_readings(limit_kind: str, message: str) -> tuple[Reading, ...]:
    return (_said_reading(limit_kind, message),) if _SAID_LIMIT.search(message) else ()


def request_id(headers: Mapping[str, str], text: str = "") -> str | None:
    for name in _REQUEST_ID_HEADERS:
        if headers.get(name):
            return headers[name]
    try:
        data = json.loads(text) if text.startswith("{") else None
    except ValueError:
        return None
    found = data.get("request_id") if isinstance(data, dict) else None
    return str(found) if found else None


def read_answer(
    status: int, headers: Mapping[str, str], text: str, seen: Seen, now: dt.datetime
) -> tuple[list[Observation], int]:
    """Rows for one answer from the provider's API (live or exported) and its count of
    rate-limit headers."""
    rows, sent = read_headers(headers, seen, success=200 <= status < 300, now=now)
    if status >= 400 or status == 0:
        found = read_refusal(status, text, headers, seen.provider, now)
        signal = f"http_{status}" if status else "error"
        refusal = seen.row(signal, truncate(found.message, 300), kind=found.kind, remedy=found.remedy)
        readings = [seen.reading(reading, now, "refusal") for reading in found.readings]
        unread = [seen.row("unreadable", part, kind="unparsable") for part in found.unreadable]
        rows = [refusal, *readings, *unread, *rows]
    return rows, sent


def usage_buckets(provider: str, page: Any, model: str | None) -> list[tuple[str, int]]:
    """(bucket start, tokens counted against rate limits) for each bucket of one usage
    page, empty buckets included; `ValueError` when the page is not of that shape."""
    try:
        buckets = []
        for bucket in page["data"]:
            if provider == "anthropic":
                start = format_time(parse_time(bucket["starting_at"]))
            else:
                start = format_time(dt.datetime.fromtimestamp(int(bucket["start_time"]), dt.UTC))
            results = [r for r in bucket.get("results") or [] if not model or r.get("model") in (None, model)]
            buckets.append((start, sum(_counted_tokens(provider, result) for result in results)))
        return buckets
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not a {provider} usage page ({type(error).__name__}: {error})") from None


def _counted_tokens(provider: str, result: Mapping[str, Any]) -> int:
    if provider == "anthropic":
        # Cache reads do not count against Anthropic's input-token limits; cache writes do.
        creation = result.get("cache_creation") or {}
        written = sum(int(v or 0) for v in creation.values()) if isinstance(creation, dict) else 0
        return int(result.get("uncached_input_tokens") or 0) + written + int(result.get("output_tokens") or 0)
    # OpenAI reports cached input tokens inside input_tokens already.
    return int(result.get("input_tokens") or 0) + int(result.get("output_tokens") or 0)


def account_rows(provider: str, data: Any, seen: Seen) -> list[Observation]:
    """Rows for OpenRouter's `/key` credit or a LiteLLM key's budget; `ValueError` if unreadable."""
    try:
        if provider == "openrouter":
            info = data["data"]
            limit, remaining, name = info.get("limit"), info.get("limit_remaining"), "credit"
            resets = info.get("limit_reset")
            if limit is None:
                return [seen.row("credit_limit", f"none (usage {info.get('usage')})")]
        else:
            info = data["info"]
            limit, name, resets = info.get("max_budget"), "budget", info.get("budget_reset_at")
            if limit is None:
                return [seen.row("budget_limit", f"none (spend {info.get('spend')})")]
            remaining = float(limit) - float(info.get("spend") or 0)
        limit, remaining = float(limit), float(remaining)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not a {provider} key report ({type(error).__name__}: {error})") from None
    ratio = max(0.0, remaining) / limit if limit > 0 else 0.0
    kind = "hard_quota" if remaining <= 0 else None
    return [
        seen.row(
            f"{name}_remaining",
            round(remaining, 4),
            limit=limit,
            ratio=ratio,
            kind=kind,
            limit_kind=f"{name} (USD)",
            resets_at=str(resets) if resets else None,
            via="account",
        )
    ]


@dataclass(frozen=True)
class Exported:
    """One of the agent's own responses, as the user exported it."""

    status: int  # 0: an error the export gives no HTTP status for
    headers: dict[str, str]
    body: str
    model: str | None
    observed_at: str | None
    provider: str | None = None
    tokens: int | None = None
    finish_reasons: tuple[str, ...] = ()


def load_export(path: Path) -> tuple[list[Exported], list[str]]:
    """The responses in a JSONL or CSV export (status, headers, body; model, provider and
    observed_at optional) or in OpenTelemetry spans (OTLP/JSON), and a note for each part
    that could not be read; `otel.ExportTooLarge` for a file above `otel.MAX_EXPORT_BYTES`."""
    if path.suffix.lower() in (".json", ".jsonl") and otel.is_otlp(path):
        spans, problems = otel.load_spans(path)
        return [_from_span(span) for span in spans], problems
    text = io.StringIO(otel.read_export_text(path, newline="", errors="replace"))
    if path.suffix.lower() == ".csv":
        records: Iterable[tuple[int, Any]] = enumerate(csv.DictReader(text), start=2)
    else:
        records = ((number, line) for number, line in enumerate(text, start=1) if line.strip())
    answers, problems, unread = [], [], 0
    for number, record in records:
        try:
            answers.append(_exported(json.loads(record) if isinstance(record, str) else record))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
            unread += 1
            if len(problems) < MAX_PROBLEMS_NAMED:
                problems.append(f"line {number}: {type(error).__name__}: {truncate(str(error), 80)}")
    if unread > len(problems):
        problems.append(f"… and {unread - len(problems)} more lines that could not be read")
    return answers, problems


def _exported(record: Mapping[str, Any]) -> Exported:
    headers = record.get("headers") or {}
    if isinstance(headers, str):
        headers = json.loads(headers)
    body = record.get("body") or ""
    return Exported(
        status=int(record["status"]),
        headers={str(name).lower(): str(value) for name, value in headers.items()},
        body=body if isinstance(body, str) else json.dumps(body),
        model=record.get("model") or None,
        observed_at=record.get("observed_at") or record.get("timestamp") or None,
        provider=record.get("provider") or None,
    )


def _from_span(span: otel.Span) -> Exported:
    tokens = (span.input_tokens or 0) + (span.output_tokens or 0)
    return Exported(
        status=span.status if span.status is not None else 0,
        headers={},
        body=span.text,
        model=span.model,
        observed_at=format_time(span.started) if span.started else None,
        provider=span.provider,
        tokens=tokens if span.input_tokens is not None or span.output_tokens is not None else None,
        finish_reasons=span.finish_reasons,
    )


class QuotaEvidence:
    """Everything the token-quota probe saw, from every source, and what it adds up to."""

    def __init__(
        self, provider: str, model: str | None, tokens_per_minute_limit: float = 0.0, key_label: str = ""
    ) -> None:
        self.provider = provider
        self.model = model
        self.key_label = key_label  # who the limits belong to when no model is named
        self.tokens_per_minute_limit = tokens_per_minute_limit
        self.rows: list[Observation] = []
        self.sources: list[tuple[str, bool, str]] = []
        self.answers = 0  # answers from the provider's API, the denominator of error shares
        self.accepted = 0  # live generation requests the provider served
        self._usage: list[tuple[str, int, str, str]] = []  # minute, tokens, source, provider

    def note(self, source: str, used: bool, detail: str) -> None:
        self.sources.append((source, used, scrub(detail)))

    def read_export(self, path: Path) -> None:
        try:
            answers, problems = load_export(path)
        except (OSError, UnicodeDecodeError) as error:
            self.note("export", False, f"cannot read {path}: {getattr(error, 'strerror', None) or error}")
            return
        for answer in answers:
            when = parse_time(answer.observed_at) if answer.observed_at else utc_now()
            seen = Seen(
                "export",
                answer.provider or self.provider,
                answer.model,
                answer.observed_at,
                request_id(answer.headers, answer.body),
            )
            self.rows += read_answer(answer.status, answer.headers, answer.body, seen, when)[0]
            truncated = [reason for reason in answer.finish_reasons if reason.lower() in _TRUNCATED]
            if truncated:
                self.rows.append(seen.row("finish_reason", truncated[0], kind="output_truncated"))
            if answer.tokens is not None and answer.observed_at:
                minute = when.replace(second=0, microsecond=0)
                self._usage.append((format_time(minute), answer.tokens, "export", seen.provider))
        self.rows += [
            Seen("export", self.provider).row("unparsable_line", problem, kind="unparsable")
            for problem in problems
        ]
        self.answers += len(answers)
        unread = f", {len(problems)} unreadable" if problems else ""
        kind = "spans" if path.suffix.lower() in (".json", ".jsonl") and otel.is_otlp(path) else "responses"
        self.note("export", bool(answers), f"{len(answers)} {kind} from {path.name}{unread}")

    def read_live(self, answer: Response, model: str | None = None) -> None:
        what = f"{answer.method} {safe_url(answer.url)}"
        now = utc_now()
        seen = Seen("live", self.provider, model, format_time(now), request_id(answer.headers, answer.text))
        if answer.status is None:
            self.rows.append(seen.row("no_answer", answer.detail, kind=answer.failure))
            self.note("live", False, f"{what}: {answer.detail}")
            return
        rows, sent = read_answer(answer.status, answer.headers, answer.text, seen, now)
        self.answers += 1
        if model and 200 <= answer.status < 300:
            self.accepted += 1
        self.rows += [seen.row("ratelimit_headers", sent), *rows]
        headers = f"{sent} rate-limit headers" if sent else "no rate-limit headers"
        self.note("live", True, f"{what}: HTTP {answer.status}, {headers}")

    def read_account(self, answer: Response) -> None:
        """OpenRouter's credit or a LiteLLM key's budget."""
        what = f"{answer.method} {safe_url(answer.url)}"
        now = format_time(utc_now())
        seen = Seen("key_info", self.provider, None, now, request_id(answer.headers, answer.text))
        if answer.status is None or answer.status >= 400:
            self._refused("key_info", what, answer, seen)
            return
        try:
            self.rows += account_rows(self.provider, answer.json(), seen)
        except ValueError as error:
            self.rows.append(seen.row("unparsable_answer", truncate(str(error), 200), kind="unparsable"))
            self.note("key_info", False, f"{what}: {error}")
            return
        self.note("key_info", True, f"{what}: HTTP {answer.status}")

    def read_usage(self, pages: Sequence[Response]) -> None:
        found: list[tuple[str, int]] = []
        for page in pages:
            what = f"{page.method} {safe_url(page.url)}"
            seen = Seen("usage_api", self.provider, self.model, format_time(utc_now()))
            if page.status is None or page.status >= 400:
                self._refused("usage_api", what, page, seen)
                return
            try:
                found += usage_buckets(self.provider, page.json(), self.model)
            except ValueError as error:
                self.rows.append(seen.row("unparsable_answer", truncate(str(error), 200), kind="unparsable"))
                self.note("usage_api", False, f"{what}: {error}")
                return
        self._usage += [(start, tokens, "usage_api", self.provider) for start, tokens in found]
        self.note("usage_api", True, f"{len(pages)} page(s), {len(found)} one-minute buckets")

    def _refused(self, source: str, what: str, answer: Response, seen: Seen) -> None:
        if answer.status is None:
            self.rows.append(seen.row("no_answer", answer.detail, kind=answer.failure))
            self.note(source, False, f"{what}: {answer.detail}")
            return
        kind, message = classify(answer.status, answer.text, answer.headers, self.provider)
        self.rows.append(seen.row(f"http_{answer.status}", truncate(message, 300), kind=kind))
        self.note(source, False, f"{what}: HTTP {answer.status} {truncate(message, 120)}")

    def usage_limit(self) -> float | None:
        """The per-minute token limit to divide usage by: the configured one or, failing
        that, the one the rate-limit headers reported."""
        if self.tokens_per_minute_limit:
            return self.tokens_per_minute_limit
        # Usage counts input and output together, so the combined `tokens` limit fits best.
        rows = [r for r in self._token_rows() if r.via == "headers"]
        limits = [r.limit for r in rows if r.limit and r.signal == "tokens_remaining"]
        limits = limits or [r.limit for r in rows if r.limit]
        return max(limits) if limits else None

    def _usage_rows(self) -> list[Observation]:
        """One row per minute bucket and source, its tokens summed over models, with its utilisation."""
        limit = self.usage_limit()
        totals: Counter[tuple[str, str, str]] = Counter()
        for start, tokens, source, provider in self._usage:
            totals[source, provider, start] += tokens
        return [
            Seen(source, provider, self.model or "(all)", start).row(
                "tokens_per_minute",
                totals[source, provider, start],
                limit=limit,
                ratio=totals[source, provider, start] / limit if limit else None,
            )
            for source, provider, start in sorted(totals)
        ]

    def _sources(self) -> list[tuple[str, bool, str]]:
        if self._usage and not self.usage_limit():
            source = self._usage[0][2]
            return [
                *self.sources,
                (source, False, "no per-minute token limit known: set tokens_per_minute_limit"),
            ]
        return self.sources

    # What it adds up to

    def count(self, kind: str) -> int:
        return sum(1 for row in self.rows if row.kind == kind)

    def first(self, kind: str) -> Observation | None:
        return next((row for row in self.rows if row.kind == kind), None)

    def _token_rows(self) -> list[Observation]:
        return [r for r in self.rows if r.limit_kind and "token" in r.limit_kind and r.ratio is not None]

    def tightest(self) -> tuple[float, str] | None:
        """The least headroom any source showed (share of a limit left), and where."""
        candidates = [
            (row.ratio, row.describe())
            for row in self.rows
            if row.ratio is not None
            and row.limit_kind
            and ("token" in row.limit_kind or row.via == "account")
        ]
        candidates += [
            (
                1 - row.ratio,
                f"{row.value} of {row.limit:g} tokens used in the minute from {row.observed_at} "
                f"({row.ratio:.0%}, {row.source})",
            )
            for row in self._usage_rows()
            if row.ratio is not None
        ]
        return min(candidates, default=None)

    def busy_minutes(self, threshold: float) -> int:
        """The longest run of consecutive minutes, in one source, with utilisation at or above `threshold`."""
        longest = run = 0
        previous: tuple[str, dt.datetime] | None = None
        for row in self._usage_rows():
            start = parse_time(str(row.observed_at))
            busy = row.ratio is not None and row.ratio >= threshold
            consecutive = (
                previous is not None
                and previous[0] == row.source
                and (start - previous[1]).total_seconds() == 60
            )
            run = (run + 1 if consecutive else 1) if busy else 0
            longest = max(longest, run)
            previous = (row.source, start)
        return longest

    def rejected(self) -> list[Observation]:
        """Refusals of the API key itself (the admin key's are noted, not decisive)."""
        return [r for r in self.rows if r.kind == "auth_rejected" and r.source in ("live", "key_info")]

    def alternatives(self) -> dict[str, int]:
        """Each cause other than the quota, worded for the providers that showed it, and how often."""
        found: dict[str, int] = {}
        for kind, cause in ALTERNATIVE_CAUSES.items():
            if not (count := self.count(kind)):
                continue
            if kind == "provider_overload":
                seen = dict.fromkeys(overload_seen(r.provider, r.signal) for r in self.rows if r.kind == kind)
                cause = f"{cause.removesuffix(')')}: {', '.join(seen)})"
            found[cause] = count
        return found

    def usable(self) -> bool:
        signals = set(ERROR_KINDS) | set(ALTERNATIVE_CAUSES)
        return self.tightest() is not None or any(row.kind in signals for row in self.rows)

    def unparsable(self) -> list[str]:
        return [
            str(row.value) if row.signal == "unreadable" else f"{row.signal}: {row.value!r}"
            for row in self.rows
            if row.kind == "unparsable"
        ]

    def unread(self) -> str:
        """` Could not parse: …` naming what could not be read, for inconclusive summaries."""
        parts = self.unparsable()
        return f" Could not parse: {'; '.join(parts[:5])}." if parts else ""

    def remedies(self, *kinds: str) -> list[str]:
        """What the refusals of these kinds say to do, each once, as hints."""
        found = [row.remedy for row in self.rows if row.kind in kinds and row.remedy]
        return [remedy[0].upper() + remedy[1:] + "." for remedy in dict.fromkeys(found)]

    def binding(self, windows: tuple[str, ...], *, tokens: bool = False) -> Observation | None:
        """The spent limit of these windows (`minute`, `day`) that resets last: what the
        agent must wait for. None when no reading says such a limit is spent."""
        spent = [
            row
            for row in self.headroom()
            if row.value == 0
            and row.limit_kind
            and any(f"per {window}" in row.limit_kind for window in windows)
            and (not tokens or "token" in row.limit_kind)
        ]
        return max(spent, key=lambda row: row.resets_at or "", default=None)

    def reset_time(self, *windows: str, tokens: bool = False) -> str | None:
        """When the binding limit of these windows resets, as people read it: `2026-11-29 08:00:00 UTC`."""
        row = self.binding(windows, tokens=tokens)
        if row is None or not row.resets_at:
            return None
        return f"{parse_time(row.resets_at):%Y-%m-%d %H:%M:%S} UTC"

    def spent(self, refusal: Observation) -> str:
        """What a refusal ran into: the limits its answer says are spent, else the refusal itself."""
        if refusal.limit_kind:
            return refusal.describe()
        window = {"daily_quota": "per day"}.get(str(refusal.kind), "")
        same = [
            row
            for row in self.rows
            if row.limit_kind
            and row.value == 0
            and window in row.limit_kind
            and (row.source, row.observed_at, row.request_id)
            == (refusal.source, refusal.observed_at, refusal.request_id)
        ]
        if refusal.kind == "hard_quota":
            same = [
                r
                for r in same
                if r.limit == 0 or "month" in str(r.limit_kind) or "quota" in str(r.limit_kind)
            ]
        said = "; ".join(dict.fromkeys(row.headline() for row in same[:3]))
        return f"{said}, from {refusal.source}" if said else refusal.describe()

    def overview(self) -> str:
        """What each source gave, for summaries that must say why nothing was usable."""
        return (
            "; ".join(f"{source}: {detail}" for source, _, detail in self._sources()) or "no source was read"
        )

    def headroom(self) -> list[Observation]:
        """The latest reading of each limit from each source, spent ones first, then the tightest."""
        latest: dict[tuple[str, str, str, str], Observation] = {}
        for row in [*self.rows, *self._usage_headroom()]:
            if row.limit_kind and row.kind not in ("no_data", "unparsable"):
                latest[row.provider, row.model or "", row.limit_kind, f"{row.source} {row.via}"] = row
        return sorted(latest.values(), key=lambda r: (r.value != 0, r.ratio if r.ratio is not None else 1.0))

    def _usage_headroom(self) -> list[Observation]:
        """The fullest minute of each usage source, as a reading of the per-minute token limit."""
        fullest: dict[str, Observation] = {}
        for row in self._usage_rows():
            if row.limit and (row.source not in fullest or row.value > fullest[row.source].value):  # type: ignore[operator]
                fullest[row.source] = row
        readings = []
        for row in fullest.values():
            assert row.limit is not None and isinstance(row.value, int)
            end = parse_time(str(row.observed_at)) + dt.timedelta(minutes=1)
            readings.append(
                Seen(row.source, row.provider, row.model, row.observed_at).row(
                    "tokens_per_minute_remaining",
                    max(0, int(row.limit) - row.value),
                    limit=row.limit,
                    ratio=max(0.0, 1 - row.value / row.limit),
                    limit_kind="tokens per minute",
                    resets_at=format_time(end),
                    via="usage",
                    detail=f"fullest minute, from {row.observed_at}",
                )
            )
        return readings

    def _headroom_table(self) -> Table:
        return Table(
            "headroom",
            HEADROOM_COLUMNS,
            tuple(
                (
                    row.provider,
                    row.model or self.key_label or None,
                    row.limit_kind,
                    row.limit,
                    row.value,
                    row.resets_at,
                    f"{row.source} {row.via}",
                    row.value == 0 or (isinstance(row.value, int | float) and row.value < 0),
                    row.detail,
                )
                for row in self.headroom()
            ),
        )

    def tables(self) -> list[Table]:
        return [
            self._headroom_table(),
            Table.from_records("signals", [asdict(row) for row in self.rows + self._usage_rows()], COLUMNS),
            Table("sources", ("source", "used", "detail"), tuple(self._sources())),
        ]

    def metrics(self) -> dict[str, tuple[float | int | None, str]]:
        tokens = min(self._token_rows(), key=lambda row: row.ratio or 0.0, default=None)
        shares = [row.ratio for row in self._usage_rows() if row.ratio is not None]
        if tokens is not None and tokens.ratio is not None:
            shares.append(1 - tokens.ratio)
        limit = tokens.limit if tokens is not None else self.usage_limit()
        metrics: dict[str, tuple[float | int | None, str]] = {
            "tokens_remaining": (tokens.value if tokens is not None else None, "tokens"),  # type: ignore[dict-item]
            "tokens_limit": (limit, "tokens"),
            "utilisation": (round(max(shares), 4) if shares else None, "ratio"),
            "answers": (self.answers, "responses"),
        }
        metrics.update({f"errors_{kind}": (self.count(kind), "errors") for kind in ERROR_KINDS})
        return metrics
