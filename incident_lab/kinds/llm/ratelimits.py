"""What LLM providers say about their limits, read into evidence rows.

Four kinds of answer carry it: rate-limit headers (OpenAI and Azure `x-ratelimit-*`
with Go-style durations, Anthropic `anthropic-ratelimit-*` with RFC 3339 resets,
LiteLLM forwarding upstream ones with an `llm_provider-` prefix), error bodies
(classified into kinds), admin usage reports in minute buckets, and credit or budget
reports. Providers change these, so parsing is tolerant: what cannot be read becomes
an `unparsable` row naming the header, never an exception.
"""

from __future__ import annotations

import csv
import datetime as dt
import email.utils
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from incident_lab.kinds.http.session import Response, safe_url
from incident_lab.redaction import scrub
from incident_lab.result import JsonScalar, Table, format_time, parse_time, utc_now
from incident_lab.wording import truncate

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
    "request_id",
)

# Kinds an answer from the provider is classified into; each gets an `errors_KIND` metric.
ERROR_KINDS = (
    "rate_tokens",
    "rate_requests",
    "rate_limit",  # a 429 that says neither tokens nor requests
    "hard_quota",
    "request_too_large",
    "context_overflow",
    "provider_overload",
)
RATE_KINDS = ("rate_tokens", "rate_requests", "rate_limit")
# Failures that explain an incident without the account's quota being at fault.
ALTERNATIVE_CAUSES = {
    "provider_overload": "provider overload (HTTP 529, load across all the provider's users)",
    "server_error": "provider server errors (HTTP 5xx)",
    "context_overflow": "prompts longer than the model's context window",
}

_RATELIMIT_HEADER = re.compile(
    r"^(?P<upstream>llm_provider-)?(?:"
    r"x-ratelimit-(?P<field>limit|remaining|reset)-(?P<dim>requests|tokens)"
    r"|anthropic-ratelimit-(?P<adim>requests|tokens|input-tokens|output-tokens)-(?P<afield>limit|remaining|reset)"
    r")$"
)
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_COUNT = re.compile(r"^-?\d+(?:\.\d+)?$")
_TOKEN_LIMIT_WORDS = re.compile(
    r"tokens? per (?:min|minute|day)|\btp[md]\b|token rate limit|(?:input|output|request) tokens", re.I
)
_REQUEST_LIMIT_WORDS = re.compile(
    r"requests? per (?:min|minute|day)|\brp[md]\b|call rate limit|number of requests", re.I
)
_HARD_QUOTA_WORDS = (
    "exceeded your current quota",
    "reached your specified api usage limits",
    "spend limit",
    "budget has been exceeded",
    "insufficient credits",
)
_CONTEXT_WORDS = ("maximum context length", "prompt is too long", "context length", "context window")
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "apim-request-id", "x-litellm-call-id")


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

    def describe(self) -> str:
        limit = f" of {self.limit:g}" if self.limit is not None else ""
        share = f" ({self.ratio:.0%})" if self.ratio is not None else ""
        return f"{self.signal} {self.value}{limit}{share} from {self.source}"


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
    ) -> Observation:
        value = scrub(value) if isinstance(value, str) else value
        ratio = round(ratio, 4) if ratio is not None else None
        return Observation(**asdict(self), signal=signal, value=value, limit=limit, ratio=ratio, kind=kind)


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


def read_headers(
    headers: Mapping[str, str], seen: Seen, *, success: bool, now: dt.datetime
) -> tuple[list[Observation], int]:
    """Rows for the rate-limit headers of one answer, and how many such headers it had."""
    readings: dict[str, dict[str, float]] = {}
    rows: list[Observation] = []
    sent = 0
    for name, raw in headers.items():
        match = _RATELIMIT_HEADER.match(name)
        if not match:
            continue
        sent += 1
        dimension = (match["dim"] or match["adim"]).replace("-", "_")
        if match["upstream"]:  # LiteLLM's own limits and the upstream provider's differ
            dimension = f"upstream_{dimension}"
        field = match["field"] or match["afield"]
        try:
            value = parse_reset(raw, now) if field == "reset" else _count(raw)
        except (ValueError, OverflowError):
            rows.append(seen.row(name, raw, kind="unparsable"))
            continue
        readings.setdefault(dimension, {})[field] = value
    for dimension, reading in sorted(readings.items()):
        rows += _dimension_rows(dimension, reading, seen, success=success)
    if "retry-after-ms" in headers or "retry-after" in headers:
        try:
            rows.append(seen.row("retry_after_s", round(parse_retry_after(headers, now), 3)))
        except (ValueError, TypeError):
            name = "retry-after-ms" if "retry-after-ms" in headers else "retry-after"
            rows.append(seen.row(name, headers[name], kind="unparsable"))
    return rows, sent


def _dimension_rows(
    dimension: str, reading: Mapping[str, float], seen: Seen, *, success: bool
) -> list[Observation]:
    limit, remaining, reset = reading.get("limit"), reading.get("remaining"), reading.get("reset")
    rows = []
    # Azure sends -1 when it has no data, and 0 on answers that plainly succeeded.
    no_data = (remaining is not None and remaining < 0) or (limit is not None and limit < 0)
    if seen.provider == "azure" and success and remaining == 0 and not limit:
        no_data = True
    if no_data:
        rows.append(seen.row(f"{dimension}_remaining", remaining, limit=limit, kind="no_data"))
    elif remaining is not None:
        # Anthropic rounds token counts to thousands: a 0 may hide a few hundred tokens.
        ratio = remaining / limit if limit else (0.0 if remaining == 0 else None)
        rows.append(seen.row(f"{dimension}_remaining", int(remaining), limit=limit, ratio=ratio))
    elif limit is not None:
        rows.append(seen.row(f"{dimension}_limit", int(limit)))
    if reset is not None:
        rows.append(seen.row(f"{dimension}_reset_s", round(reset, 3)))
    return rows


def error_object(text: str) -> dict[str, Any]:
    """The `error` object that OpenAI, Anthropic, Azure, OpenRouter and LiteLLM all send."""
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return error
    return {"message": error} if isinstance(error, str) else {}


def classify(status: int, text: str, headers: Mapping[str, str]) -> tuple[str, str]:
    """The kind of a refusal (one of `ERROR_KINDS`, or `auth_rejected`, `server_error`,
    `other_error`) and its message."""
    error = error_object(text)
    message = str(error.get("message") or " ".join(text.split())[:300] or f"HTTP {status}")
    details = error.get("details")
    tags = {str(error.get("type")).lower(), str(error.get("code")).lower()}
    if isinstance(details, dict):
        tags.add(str(details.get("error_code")).lower())
    lowered = message.lower()
    if status in (401, 403):
        return "auth_rejected", message
    if (
        status == 402
        or tags & {"insufficient_quota", "budget_exceeded", "enforced_spend_limit_reached"}
        or any(words in lowered for words in _HARD_QUOTA_WORDS)
    ):
        return "hard_quota", message
    if "request too large" in lowered or "request_too_large" in tags:
        return "request_too_large", message
    if "context_length_exceeded" in tags or any(words in lowered for words in _CONTEXT_WORDS):
        return "context_overflow", message
    if status == 529 or "overloaded_error" in tags:
        return "provider_overload", message
    if status == 429 or tags & {"rate_limit_error", "rate_limit_exceeded"}:
        return _rate_kind(tags, message, headers), message
    if status >= 500:
        return "server_error", message
    return "other_error", message


def _rate_kind(tags: set[str], message: str, headers: Mapping[str, str]) -> str:
    if "tokens" in tags or _TOKEN_LIMIT_WORDS.search(message):
        return "rate_tokens"
    if "requests" in tags or _REQUEST_LIMIT_WORDS.search(message):
        return "rate_requests"
    exhausted = {
        name for name, value in headers.items() if _RATELIMIT_HEADER.match(name) and value.strip() == "0"
    }
    if any("token" in name and "remaining" in name for name in exhausted):
        return "rate_tokens"
    if any("requests-remaining" in name or "remaining-requests" in name for name in exhausted):
        return "rate_requests"
    return "rate_limit"


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
    if status >= 400:
        kind, message = classify(status, text, headers)
        rows.insert(0, seen.row(f"http_{status}", truncate(message, 300), kind=kind))
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
            if limit is None:
                return [seen.row("credit_limit", f"none (usage {info.get('usage')})")]
        else:
            info = data["info"]
            limit, name = info.get("max_budget"), "budget"
            if limit is None:
                return [seen.row("budget_limit", f"none (spend {info.get('spend')})")]
            remaining = float(limit) - float(info.get("spend") or 0)
        limit, remaining = float(limit), float(remaining)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not a {provider} key report ({type(error).__name__}: {error})") from None
    ratio = max(0.0, remaining) / limit if limit > 0 else 0.0
    kind = "hard_quota" if remaining <= 0 else None
    return [seen.row(f"{name}_remaining", round(remaining, 4), limit=limit, ratio=ratio, kind=kind)]


@dataclass(frozen=True)
class Exported:
    """One of the agent's own responses, as the user exported it."""

    status: int
    headers: dict[str, str]
    body: str
    model: str | None
    observed_at: str | None


def load_export(path: Path) -> tuple[list[Exported], list[str]]:
    """The responses in a JSONL or CSV export (status, headers, body; model and
    observed_at optional), and a note for each line that could not be read."""
    with path.open(newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".csv":
            records: Iterable[tuple[int, Any]] = enumerate(csv.DictReader(handle), start=2)
        else:
            records = ((number, line) for number, line in enumerate(handle, start=1) if line.strip())
        answers, problems = [], []
        for number, record in records:
            try:
                answers.append(_exported(json.loads(record) if isinstance(record, str) else record))
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                problems.append(f"line {number}: {type(error).__name__}: {truncate(str(error), 80)}")
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
    )


class QuotaEvidence:
    """Everything the token-quota probe saw, from every source, and what it adds up to."""

    def __init__(self, provider: str, model: str | None, tokens_per_minute_limit: float = 0.0) -> None:
        self.provider = provider
        self.model = model
        self.tokens_per_minute_limit = tokens_per_minute_limit
        self.rows: list[Observation] = []
        self.sources: list[tuple[str, bool, str]] = []
        self.answers = 0  # answers from the provider's API, the denominator of error shares
        self._usage: list[tuple[str, int]] = []

    def note(self, source: str, used: bool, detail: str) -> None:
        self.sources.append((source, used, scrub(detail)))

    def read_export(self, path: Path) -> None:
        try:
            answers, problems = load_export(path)
        except OSError as error:
            self.note("export", False, f"cannot read {path}: {error.strerror or error}")
            return
        for answer in answers:
            seen = Seen(
                "export",
                self.provider,
                answer.model,
                answer.observed_at,
                request_id(answer.headers, answer.body),
            )
            self.rows += read_answer(answer.status, answer.headers, answer.body, seen, utc_now())[0]
        self.rows += [
            Seen("export", self.provider).row("unparsable_line", problem, kind="unparsable")
            for problem in problems
        ]
        self.answers += len(answers)
        unread = f", {len(problems)} unreadable" if problems else ""
        self.note("export", bool(answers), f"{len(answers)} responses from {path.name}{unread}")

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
        for page in pages:
            what = f"{page.method} {safe_url(page.url)}"
            seen = Seen("usage_api", self.provider, self.model, format_time(utc_now()))
            if page.status is None or page.status >= 400:
                self._refused("usage_api", what, page, seen)
                return
            try:
                self._usage += usage_buckets(self.provider, page.json(), self.model)
            except ValueError as error:
                self.rows.append(seen.row("unparsable_answer", truncate(str(error), 200), kind="unparsable"))
                self.note("usage_api", False, f"{what}: {error}")
                return
        self.note("usage_api", True, f"{len(pages)} page(s), {len(self._usage)} one-minute buckets")

    def _refused(self, source: str, what: str, answer: Response, seen: Seen) -> None:
        if answer.status is None:
            self.rows.append(seen.row("no_answer", answer.detail, kind=answer.failure))
            self.note(source, False, f"{what}: {answer.detail}")
            return
        kind, message = classify(answer.status, answer.text, answer.headers)
        self.rows.append(seen.row(f"http_{answer.status}", truncate(message, 300), kind=kind))
        self.note(source, False, f"{what}: HTTP {answer.status} {truncate(message, 120)}")

    def usage_limit(self) -> float | None:
        """The per-minute token limit to divide usage by: the configured one or, failing
        that, the one the rate-limit headers reported."""
        if self.tokens_per_minute_limit:
            return self.tokens_per_minute_limit
        # Usage counts input and output together, so the combined `tokens` limit fits best.
        rows = self._token_rows()
        limits = [r.limit for r in rows if r.limit and r.signal == "tokens_remaining"]
        limits = limits or [r.limit for r in rows if r.limit]
        return max(limits) if limits else None

    def _usage_rows(self) -> list[Observation]:
        """One row per minute bucket, its tokens summed over models, with its utilisation."""
        limit = self.usage_limit()
        totals: Counter[str] = Counter()
        for start, tokens in self._usage:
            totals[start] += tokens
        return [
            Seen("usage_api", self.provider, self.model or "(all)", start).row(
                "tokens_per_minute",
                totals[start],
                limit=limit,
                ratio=totals[start] / limit if limit else None,
            )
            for start in sorted(totals)
        ]

    def _sources(self) -> list[tuple[str, bool, str]]:
        if self._usage and not self.usage_limit():
            return [
                *self.sources,
                ("usage_api", False, "no per-minute token limit known: set tokens_per_minute_limit"),
            ]
        return self.sources

    # What it adds up to

    def count(self, kind: str) -> int:
        return sum(1 for row in self.rows if row.kind == kind)

    def first(self, kind: str) -> Observation | None:
        return next((row for row in self.rows if row.kind == kind), None)

    def _token_rows(self) -> list[Observation]:
        return [r for r in self.rows if r.signal.endswith("tokens_remaining") and r.ratio is not None]

    def tightest(self) -> tuple[float, str] | None:
        """The least headroom any source showed (share of a limit left), and where."""
        candidates = [
            (row.ratio, row.describe())
            for row in self.rows
            if row.ratio is not None
            and row.signal.endswith(("tokens_remaining", "credit_remaining", "budget_remaining"))
        ]
        candidates += [
            (
                1 - row.ratio,
                f"{row.value} of {row.limit:g} tokens used in the minute from {row.observed_at} "
                f"({row.ratio:.0%}, usage_api)",
            )
            for row in self._usage_rows()
            if row.ratio is not None
        ]
        return min(candidates, default=None)

    def busy_minutes(self, threshold: float) -> int:
        """The longest run of consecutive minutes with utilisation at or above `threshold`."""
        longest = run = 0
        previous: dt.datetime | None = None
        for row in self._usage_rows():
            start = parse_time(str(row.observed_at))
            busy = row.ratio is not None and row.ratio >= threshold
            consecutive = previous is not None and (start - previous).total_seconds() == 60
            run = (run + 1 if consecutive else 1) if busy else 0
            longest = max(longest, run)
            previous = start
        return longest

    def rejected(self) -> list[Observation]:
        """Refusals of the API key itself (the admin key's are noted, not decisive)."""
        return [r for r in self.rows if r.kind == "auth_rejected" and r.source in ("live", "key_info")]

    def alternatives(self) -> dict[str, int]:
        return {cause: self.count(kind) for kind, cause in ALTERNATIVE_CAUSES.items() if self.count(kind)}

    def usable(self) -> bool:
        signals = set(ERROR_KINDS) | set(ALTERNATIVE_CAUSES)
        return self.tightest() is not None or any(row.kind in signals for row in self.rows)

    def unparsable(self) -> list[str]:
        return [f"{row.signal}: {row.value!r}" for row in self.rows if row.kind == "unparsable"]

    def overview(self) -> str:
        """What each source gave, for summaries that must say why nothing was usable."""
        return (
            "; ".join(f"{source}: {detail}" for source, _, detail in self._sources()) or "no source was read"
        )

    def tables(self) -> list[Table]:
        return [
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
