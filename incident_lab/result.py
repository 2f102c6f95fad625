"""The probe result: a tri-state verdict with its evidence, and its JSON form.

The JSON form is the contract between the command line, the notebook, the archive
and users' scripts, so it round-trips losslessly: `Result.from_json(r.to_json()) == r`.
Evidence tables hold JSON values only (timestamps as ISO 8601 text), which is what
makes the round trip exact; `Table.frame` gives the pandas DataFrame.

The JSON carries `schema` (`SCHEMA_VERSION`). Schema 1 (no `schema` field) lacked the
target's name and kind, the server's version and the count of evidence rows left out;
it still reads.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from incident_lab.redaction import scrub, scrub_texts, scrub_value
from incident_lab.verdict import Verdict

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 2
# An evidence table keeps at most this many rows (and says how many it left out), so that
# a server with ten thousand sessions cannot make a report of hundreds of megabytes.
MAX_EVIDENCE_ROWS = 2000

JsonScalar = str | int | float | bool | None
_PLAIN_SCALARS = frozenset({str, int, bool})


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_time(moment: dt.datetime) -> str:
    """UTC, millisecond precision, `Z` suffix: the one time format of the contract."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def json_scalar(value: Any) -> JsonScalar:
    """Turn a database or pandas value into a JSON scalar, keeping its meaning."""
    # Most cells are already text, integers or nulls: those exact types first, cheaply.
    if value is None or type(value) in _PLAIN_SCALARS:
        return value
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dt.datetime):
        return format_time(value) if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if hasattr(value, "item"):  # numpy scalars
        return json_scalar(value.item())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(str(json_scalar(item)) for item in value)
    return str(value)


@dataclass(frozen=True)
class Table:
    """A named evidence table; `omitted` counts the rows left out beyond `MAX_EVIDENCE_ROWS`."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[JsonScalar, ...], ...]
    omitted: int = 0

    @classmethod
    def from_records(
        cls,
        name: str,
        records: Iterable[Mapping[str, Any]],
        columns: Sequence[str],
        limit: int = MAX_EVIDENCE_ROWS,
    ) -> Table:
        rows, omitted = [], 0
        for record in records:
            if len(rows) < limit:
                rows.append(tuple(json_scalar(record.get(column)) for column in columns))
            else:
                omitted += 1
        return cls(name, tuple(columns), tuple(rows), omitted)

    @classmethod
    def from_frame(cls, name: str, frame: pd.DataFrame, limit: int = MAX_EVIDENCE_ROWS) -> Table:
        kept = frame.head(limit)
        rows = tuple(tuple(json_scalar(value) for value in row) for row in kept.itertuples(index=False))
        return cls(name, tuple(str(column) for column in frame.columns), rows, len(frame) - len(kept))

    def scrubbed(self) -> Table:
        """This table with secrets masked in its name and text cells (numbers cannot hold one);
        itself when nothing needed masking, which one pass over every cell settles."""
        texts = [self.name, *(cell for row in self.rows for cell in row if type(cell) is str)]
        masked = scrub_texts(texts)
        if masked is texts:
            return self
        replacements = iter(masked)
        name = next(replacements)
        rows = tuple(
            tuple(next(replacements) if type(cell) is str else cell for cell in row) for row in self.rows
        )
        return Table(name, self.columns, rows, self.omitted)

    @property
    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=list(self.columns))

    def records(self) -> list[dict[str, JsonScalar]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "columns": list(self.columns),
            "rows": [list(row) for row in self.rows],
            "omitted": self.omitted,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Table:
        rows = tuple(tuple(row) for row in data["rows"])
        return cls(data["name"], tuple(data["columns"]), rows, int(data.get("omitted", 0)))


@dataclass(frozen=True)
class Metric:
    """A named number with its unit and the time it was observed, for charts and re-runs."""

    name: str
    value: float | int | None
    unit: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "at": self.at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metric:
        return cls(data["name"], data["value"], data["unit"], data["at"])


@dataclass(frozen=True)
class Result:
    """What one probe found about one hypothesis on one target."""

    probe: str
    hypothesis: str
    verdict: Verdict
    summary: str
    test: str
    target: str  # the target's redacted label
    started_at: str
    duration_ms: float
    params: dict[str, Any]
    evidence: tuple[Table, ...] = ()
    metrics: tuple[Metric, ...] = ()
    error: str | None = None
    hints: tuple[str, ...] = field(default=())
    kind: str = ""  # the target's kind, e.g. postgres
    target_name: str = ""  # the investigation's name for the target, e.g. primary
    server: str = ""  # the server as it named itself, e.g. "PostgreSQL 16.2", where the kind says

    @property
    def label(self) -> str:
        """The verdict as the incident template writes it."""
        return self.verdict.label

    def table(self, name: str) -> Table:
        for table in self.evidence:
            if table.name == name:
                return table
        raise KeyError(f"{self.probe} has no evidence table named {name!r}")

    def metric(self, name: str) -> float | int | None:
        for metric in self.metrics:
            if metric.name == name:
                return metric.value
        raise KeyError(f"{self.probe} has no metric named {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, scrubbed of secrets (identifiers kept: see `IDENTIFIER_KEYS`)."""
        data = {
            "schema": SCHEMA_VERSION,
            "probe": self.probe,
            "hypothesis": self.hypothesis,
            "verdict": self.verdict.json,
            "summary": self.summary,
            "test": self.test,
            "target": self.target,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "params": self.params,
            "evidence": [],  # filled below, scrubbed a table at a time
            "metrics": [metric.to_dict() for metric in self.metrics],
            "error": self.error,
            "hints": list(self.hints),
            "kind": self.kind,
            "target_name": self.target_name,
            "server": self.server,
        }
        scrubbed: dict[str, Any] = scrub_value(data)  # type: ignore[assignment]
        # The evidence, most of the text, in one pass per table (see `Table.scrubbed`).
        scrubbed["evidence"] = [table.scrubbed().to_dict() for table in self.evidence]
        return scrubbed

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        """A result of the current schema or the previous one."""
        schema = data.get("schema", 1)
        if schema not in (1, SCHEMA_VERSION):
            raise ValueError(f"result schema {schema} is newer than this incident_lab reads")
        return cls(
            probe=data["probe"],
            hypothesis=data["hypothesis"],
            verdict=Verdict.from_json(data["verdict"]),
            summary=data["summary"],
            test=data["test"],
            target=data["target"],
            started_at=data["started_at"],
            duration_ms=data["duration_ms"],
            params=dict(data["params"]),
            evidence=tuple(Table.from_dict(table) for table in data.get("evidence", ())),
            metrics=tuple(Metric.from_dict(metric) for metric in data.get("metrics", ())),
            error=data.get("error"),
            hints=tuple(data.get("hints", ())),
            kind=str(data.get("kind", "")),
            target_name=str(data.get("target_name", "")),
            server=str(data.get("server", "")),
        )

    @classmethod
    def from_json(cls, text: str) -> Result:
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        return scrub(f"<Result {self.probe} {self.label} on {self.target}: {self.summary}>")


@dataclass(frozen=True)
class QueryRecord:
    """An ad-hoc read-only statement run during an investigation, kept as evidence: what
    ran, where, when, for how long, and its rows (bounded) or its error."""

    title: str
    statement: str
    target: str  # the target's redacted label
    target_name: str
    started_at: str
    duration_ms: float
    rows: Table
    error: str | None = None
    hypothesis: str = ""  # the hypothesis it was run for, if any
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "title": self.title,
            "statement": self.statement,
            "target": self.target,
            "target_name": self.target_name,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "rows": self.rows.to_dict(),
            "error": self.error,
            "hypothesis": self.hypothesis,
            "params": self.params,
        }
        return scrub_value(data)  # type: ignore[return-value]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueryRecord:
        return cls(
            title=data["title"],
            statement=data["statement"],
            target=data["target"],
            target_name=data.get("target_name", ""),
            started_at=data["started_at"],
            duration_ms=data["duration_ms"],
            rows=Table.from_dict(data["rows"]),
            error=data.get("error"),
            hypothesis=data.get("hypothesis", ""),
            params=dict(data.get("params", {})),
        )
