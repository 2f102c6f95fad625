"""The agent's own telemetry: OpenTelemetry GenAI spans exported as OTLP/JSON.

The file exporter writes JSON Lines, one `TracesData` object (`{"resourceSpans": […]}`)
per line; a single pretty-printed object is read too. Attribute values are `AnyValue`
objects (`{"stringValue": …}`, `{"intValue": "429"}` with int64 as a string, arrays),
trace and span ids are hex, enums are integers, defaults are left out. Files converted
with protobuf's `MessageToDict` instead carry base64 ids and enum names: those read the
same, since ids are not used.

A span is an LLM call when it has GenAI attributes: `gen_ai.provider.name` (formerly
`gen_ai.system`), `gen_ai.operation.name`, `gen_ai.usage.input_tokens` and
`…output_tokens` (formerly `prompt_tokens`, `completion_tokens`), `gen_ai.request.model`
and `gen_ai.response.finish_reasons`. Its HTTP status comes from
`http.response.status_code`, on the span or a child HTTP span, else from `error.type`
when that is a status code or a known exception name; the refusal's text from the
`exception` events' messages and the span status, which is where SDKs put the provider's
error body.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# An export of the agent's calls around the incident is far smaller; one above this is a
# whole history, which cut short would hide the calls at its end (the incident's own).
MAX_EXPORT_BYTES = 64 * 1024 * 1024
# gen_ai.provider.name (and the older gen_ai.system) values, as incident_lab's provider names.
PROVIDER_NAMES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "gcp.gemini": "gemini",
    "gemini": "gemini",
    "gcp.vertex_ai": "vertex",
    "vertex_ai": "vertex",
    "gcp.gen_ai": "gemini",
    "aws.bedrock": "bedrock",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "openrouter": "openrouter",
}
# error.type values that name an HTTP status without saying it.
ERROR_STATUSES = {
    "ratelimiterror": 429,
    "resourceexhausted": 429,
    "resource_exhausted": 429,
    "throttlingexception": 429,
    "toomanyrequests": 429,
    "servicequotaexceededexception": 400,
    "modelnotreadyexception": 429,
    "authenticationerror": 401,
    "permissiondeniederror": 403,
    "internalservererror": 500,
    "serviceunavailable": 503,
    "overloadederror": 529,
}


@dataclass(frozen=True)
class Span:
    """One LLM call as the agent's telemetry recorded it."""

    provider: str | None
    model: str | None
    status: int | None  # None: an error with no status, or an answer that was never an HTTP one
    failed: bool
    text: str  # the error's text: exception messages and the span status message
    input_tokens: int | None
    output_tokens: int | None
    finish_reasons: tuple[str, ...]
    started: dt.datetime | None


NOT_BLANK = re.compile(r"\S")


class ExportTooLarge(Exception):
    """An export above `MAX_EXPORT_BYTES`: refused, never read in part."""


def read_export_text(path: Path, **open_options: Any) -> str:
    """The whole text of an export; `ExportTooLarge` naming the limit when it is above it
    (the size read, not the one the file system claims: a pipe or /dev/zero claims 0)."""
    with path.open(encoding="utf-8", **open_options) as handle:
        text = handle.read(MAX_EXPORT_BYTES + 1)
    if len(text) > MAX_EXPORT_BYTES:
        raise ExportTooLarge(
            f"the export {path} is larger than {MAX_EXPORT_BYTES // 2**20} MiB, the most an export may be: "
            "export only the agent's calls around the incident"
        )
    return text


def is_otlp(path: Path) -> bool:
    """Whether the file holds OTLP/JSON traces (it opens with `{"resourceSpans"`)."""
    with path.open(encoding="utf-8") as handle:
        head = handle.read(4096).lstrip()
    return head.startswith("{") and '"resourceSpans"' in head[:200]


def documents(text: str) -> Iterator[tuple[int, Any]]:
    """Every JSON value in the text, with the line it starts on: JSON Lines, or objects
    one after another however they are laid out."""
    decoder = json.JSONDecoder()
    position, line, counted_to = 0, 1, 0
    while True:
        # One regex search over the blanks, and each newline counted once: a character or a
        # count from the start at a time takes minutes over a full-size export.
        found = NOT_BLANK.search(text, position)
        if found is None:
            return
        position = found.start()
        line += text.count("\n", counted_to, position)
        counted_to = position
        value, position = decoder.raw_decode(text, position)  # ValueError on a broken document
        yield line, value


def load_spans(path: Path) -> tuple[list[Span], list[str]]:
    """The LLM calls in an OTLP/JSON traces file, and a note for what could not be read;
    `ExportTooLarge` for a file above `MAX_EXPORT_BYTES`."""
    text = read_export_text(path)
    problems: list[str] = []
    spans: list[Span] = []
    try:
        for line, document in documents(text):
            try:
                spans += _spans_of(document)
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                problems.append(f"line {line}: not OTLP traces ({type(error).__name__}: {error})")
    except ValueError as error:
        problems.append(f"broken JSON: {error}")
    return spans, problems


def _spans_of(document: Mapping[str, Any]) -> list[Span]:
    raw = [
        span for rs in document["resourceSpans"] for ss in rs.get("scopeSpans") or [] for span in ss["spans"]
    ]
    children: dict[str, list[Mapping[str, Any]]] = {}
    for span in raw:
        if span.get("parentSpanId"):
            children.setdefault(str(span["parentSpanId"]), []).append(span)
    calls = []
    for span in raw:
        attributes = attribute_map(span.get("attributes"))
        if not any(name.startswith("gen_ai.") for name in attributes):
            continue
        status = _status(attributes)
        for child in children.get(str(span.get("spanId")), []) if status is None else []:
            status = _status(attribute_map(child.get("attributes")))
            if status is not None:
                break
        calls.append(_call(span, attributes, status))
    return calls


def _call(span: Mapping[str, Any], attributes: Mapping[str, Any], status: int | None) -> Span:
    state = span.get("status") or {}
    failed = state.get("code") in (2, "STATUS_CODE_ERROR") or "error.type" in attributes
    messages = [
        str(attribute_map(event.get("attributes")).get("exception.message") or "")
        for event in span.get("events") or []
        if event.get("name") == "exception"
    ]
    text = " ".join(m for m in [*messages, str(state.get("message") or "")] if m)
    if status is None and failed:
        status = ERROR_STATUSES.get(str(attributes.get("error.type", "")).lower().replace(" ", ""))
    if status is None and not failed:
        status = 200
    provider = attributes.get("gen_ai.provider.name") or attributes.get("gen_ai.system")
    reasons = attributes.get("gen_ai.response.finish_reasons") or ()
    started = span.get("startTimeUnixNano")
    return Span(
        provider=PROVIDER_NAMES.get(str(provider).lower(), str(provider)) if provider else None,
        model=attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model"),
        status=status,
        failed=failed,
        text=text,
        input_tokens=_int(
            attributes.get("gen_ai.usage.input_tokens", attributes.get("gen_ai.usage.prompt_tokens"))
        ),
        output_tokens=_int(
            attributes.get("gen_ai.usage.output_tokens", attributes.get("gen_ai.usage.completion_tokens"))
        ),
        finish_reasons=tuple(str(r) for r in reasons)
        if isinstance(reasons, list | tuple)
        else (str(reasons),),
        started=dt.datetime.fromtimestamp(int(started) / 1e9, dt.UTC) if started else None,
    )


def _status(attributes: Mapping[str, Any]) -> int | None:
    code = attributes.get("http.response.status_code", attributes.get("http.status_code"))
    if code is None and str(attributes.get("error.type", "")).isdigit():
        code = attributes["error.type"]
    return _int(code)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def attribute_map(attributes: Any) -> dict[str, Any]:
    """OTLP's `[{"key": …, "value": {"stringValue": …}}]` as a plain dict of Python values."""
    if isinstance(attributes, dict):  # already flat, as some converters write them
        return dict(attributes)
    return {str(item["key"]): any_value(item.get("value") or {}) for item in attributes or []}


def any_value(value: Mapping[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return attribute_map((value["kvlistValue"] or {}).get("values"))
    return value.get("bytesValue")
