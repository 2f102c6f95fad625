"""Refusals from Google's generative APIs, the Gemini API (generativelanguage) and Vertex AI
(aiplatform), which share the `google.rpc` error envelope:

    {"error": {"code": 429, "message": "…", "status": "RESOURCE_EXHAUSTED",
               "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": […]},
                           {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "59s"}]}}

One 429 can name several violated quotas at once (per-minute tokens, per-minute
requests, per-day requests); each becomes a reading. A per-day quota stays spent until
midnight Pacific time, whatever `retryDelay` says; a quota of 0 means the model is not
offered on this tier or in this region. `details` are often missing: Vertex AI's
pay-as-you-go 429 ("Resource exhausted, please try again later.") says only that the
shared capacity is busy, which is load, not the project's limit.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from incident_lab.kinds.llm.refusals import (
    Reading,
    Refusal,
    next_pacific_midnight,
    parse_seconds,
    quota_kind,
    rate_kind_for,
)
from incident_lab.wording import truncate

CANONICAL = {
    "RESOURCE_EXHAUSTED",
    "UNAVAILABLE",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "INVALID_ARGUMENT",
    "FAILED_PRECONDITION",
    "DEADLINE_EXCEEDED",
    "INTERNAL",
    "NOT_FOUND",
}
_AUTH_REASONS = {"API_KEY_INVALID", "SERVICE_DISABLED", "CREDENTIALS_MISSING", "ACCESS_TOKEN_EXPIRED"}
# "Quota exceeded for metric: generativelanguage.googleapis.com/…_input_token_count, limit: 0, model: …"
_METRIC_LIMIT = re.compile(r"Quota exceeded for metric: (?P<metric>[\w./-]+), limit: (?P<limit>\d+)")
# Vertex AI's quota-based form: "Quota exceeded for aiplatform.googleapis.com/generate_content_…_per_minute…"
_VERTEX_METRIC = re.compile(r"Quota exceeded for (?P<metric>aiplatform\.googleapis\.com/\w+)")
_RETRY_IN = re.compile(r"Please retry in (\d+(?:\.\d+)?)s")
_SHARED_CAPACITY = (
    "resource exhausted, please try again later",
    "resource exhausted. please try again later",
)
_OUT_OF_CAPACITY = ("out of capacity", "overloaded", "high demand")
FREE_TIER_REMEDY = "enable billing on the project (the free tier's quotas are small, some models' are 0)"


def is_google_error(error: Mapping[str, Any]) -> bool:
    details = error.get("details")
    typed = isinstance(details, list) and any(
        isinstance(d, dict) and "google.rpc" in str(d.get("@type")) for d in details
    )
    return typed or str(error.get("status")) in CANONICAL


def read_google(status: int, error: Mapping[str, Any], now: dt.datetime, provider: str = "") -> Refusal:
    message = str(error.get("message") or f"HTTP {status}")
    canonical = str(error.get("status") or "")
    unreadable: list[str] = []
    violations, retry, info = _details(error.get("details"), unreadable)
    if retry is None and (said := _RETRY_IN.search(message)):
        retry = float(said[1])
    reason = str(info.get("reason") or "")
    lowered = message.lower()
    if reason == "BILLING_DISABLED":
        return Refusal("hard_quota", message, remedy="enable billing on the Google Cloud project")
    if (
        status in (401, 403)
        or canonical in ("UNAUTHENTICATED", "PERMISSION_DENIED")
        or reason in _AUTH_REASONS
    ):
        return Refusal("auth_rejected", message, unreadable=tuple(unreadable))
    if canonical == "FAILED_PRECONDITION" and "billing" in lowered:
        return Refusal("hard_quota", message, remedy=FREE_TIER_REMEDY)
    if status == 429 or canonical == "RESOURCE_EXHAUSTED":
        readings = _readings(violations, info, message, retry, now)
        kind = rate_kind_for(readings)
        if kind is None and any(words in lowered for words in _SHARED_CAPACITY + _OUT_OF_CAPACITY):
            kind = "provider_overload"
        elif kind is None and "provisioned throughput" in lowered:
            kind = "rate_tokens"
            readings = [Reading("tokens per second (Provisioned Throughput)", 0, resets_in=1.0)]
        return Refusal(
            kind or "rate_limit",
            message,
            tuple(readings),
            tuple(unreadable),
            _remedy(kind, readings, provider),
        )
    if status == 503 or canonical == "UNAVAILABLE":
        return Refusal("provider_overload", message, unreadable=tuple(unreadable))
    if canonical == "INVALID_ARGUMENT" and "token" in lowered and "exceeds the maximum" in lowered:
        return Refusal("context_overflow", message)
    return Refusal("server_error" if status >= 500 else "other_error", message, unreadable=tuple(unreadable))


def _details(
    details: Any, unreadable: list[str]
) -> tuple[list[Mapping[str, Any]], float | None, Mapping[str, Any]]:
    """The QuotaFailure violations, the RetryInfo delay in seconds, and the ErrorInfo."""
    violations: list[Mapping[str, Any]] = []
    retry: float | None = None
    info: Mapping[str, Any] = {}
    if details is None:
        return violations, retry, info
    if not isinstance(details, list):
        unreadable.append(f"error.details: {truncate(repr(details), 80)}")
        return violations, retry, info
    for detail in details:
        kind = str(detail.get("@type", "")).rpartition(".")[2] if isinstance(detail, dict) else ""
        if kind == "QuotaFailure":
            found = detail.get("violations")
            if isinstance(found, list) and all(isinstance(v, dict) for v in found):
                violations += found
            else:
                unreadable.append(f"QuotaFailure.violations: {truncate(repr(found), 80)}")
        elif kind == "RetryInfo":
            try:
                retry = parse_seconds(detail.get("retryDelay"))
            except (TypeError, ValueError):
                unreadable.append(f"RetryInfo.retryDelay: {truncate(repr(detail.get('retryDelay')), 40)}")
        elif kind == "ErrorInfo":
            info = detail
    return violations, retry, info


def _readings(
    violations: list[Mapping[str, Any]],
    info: Mapping[str, Any],
    message: str,
    retry: float | None,
    now: dt.datetime,
) -> list[Reading]:
    said_limits = {m["metric"]: float(m["limit"]) for m in _METRIC_LIMIT.finditer(message)}
    named: list[tuple[str, float | None, str | None, str]] = []  # quota name, limit, model, detail
    for violation in violations:
        name = str(violation.get("quotaId") or violation.get("quotaMetric") or "")
        metric = str(violation.get("quotaMetric") or "")
        dimensions = violation.get("quotaDimensions")
        model = dimensions.get("model") if isinstance(dimensions, dict) else None
        value = violation.get("quotaValue")
        limit = _number(value) if value is not None else said_limits.get(metric)
        named.append((name, limit, model, name))
    metadata = info.get("metadata") if isinstance(info.get("metadata"), dict) else {}
    if not named and metadata.get("quota_limit"):
        limit = _number(metadata.get("quota_limit_value"))
        where = f" in {metadata['quota_location']}" if metadata.get("quota_location") else ""
        named.append((str(metadata["quota_limit"]), limit, None, f"{metadata['quota_limit']}{where}"))
    if not named:
        named += [(metric, limit, None, metric) for metric, limit in said_limits.items()]
    if not named and (vertex := _VERTEX_METRIC.search(message)):
        named.append((vertex["metric"], None, None, vertex["metric"]))
    readings = []
    for name, limit, model, detail in named:
        limit_kind, window = quota_kind(name)
        reading = Reading(limit_kind, 0, limit, model=model, detail=detail)
        if window == "day":
            reading = replace(reading, resets_at=next_pacific_midnight(now))
        elif window == "minute":
            # Without a retry hint, a per-minute quota is free again within the minute at the latest.
            reading = replace(reading, resets_in=retry if retry is not None else 60.0)
        elif retry is not None:
            reading = replace(reading, resets_in=retry)
        readings.append(reading)
    return readings


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _remedy(kind: str | None, readings: list[Reading], provider: str) -> str | None:
    free = any("free tier" in r.limit_kind for r in readings)
    if kind == "hard_quota":
        return (
            FREE_TIER_REMEDY if free else "ask for a quota increase, or use a model or region that has quota"
        )
    if kind == "daily_quota":
        return "switch the agent to another key or model, or " + (
            FREE_TIER_REMEDY if free else "request a higher daily quota"
        )
    if kind == "provider_overload":
        # The global endpoint and Provisioned Throughput exist on Vertex AI only.
        if provider == "vertex":
            return (
                "retry with backoff; on Vertex AI use the global endpoint, or Provisioned Throughput for "
                "capacity of your own"
            )
        return "retry with backoff, or switch the agent to another model"
    return FREE_TIER_REMEDY if free else None
