"""Failure patterns as data: what a failure looks like, how to tell it from its neighbours,
what contains it, what prevents it, and the probe evidence that matches it.

One YAML file per pattern. This module owns the schema (typed, frozen data classes),
reading and checking a file (every mistake is a `PatternError` naming the file, the field
and the reason), the small declarative condition language evidence is written in, and
checking one probe result against one clue. Which patterns a whole investigation
matches, and since when, is `incident_lab.investigation.matching`'s.

A clue names a probe, the verdicts of it that count (`true` unless told) and conditions
on the result, all of which must hold:

    - table: root_blockers           # an evidence table has a row ...
      where: {migration: true, holds_access_exclusive_on: {present: true}}   # ... like this
      at_least: 1                    # how many rows must match (the default); at_most: 0 for none
    - metric: waiting_sessions       # a metric of the result
      at_least: 1
    - any:                           # one of several conditions
        - {metric: errors_rate_tokens, at_least: 1}
        - {metric: utilisation, at_least: 0.95}

A `where` value is a value the column must equal, or a test: `{at_least: N}`,
`{at_most: N}`, `{one_of: [...]}`, `{contains: TEXT}` (case-insensitive), `{not: VALUE}`,
`{present: true|false}` (null or not). Nothing is evaluated: the language has these words
and no others. Each check has three outcomes: it holds, it fails, or it is unknown (the
table or metric is missing, or rows that could match were left out of the evidence);
unknown counts neither way.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources.abc import Traversable
from typing import Any

from incident_lab.exceptions import PatternError, UsageError
from incident_lab.result import JsonScalar, Result
from incident_lab.verdict import Verdict
from incident_lab.wording import truncate
from incident_lab.yaml_files import parse_yaml

PATTERN_SUFFIXES = (".yaml", ".yml")
MAX_PATTERN_BYTES = 64 * 1024
# A pattern reads like a runbook entry: far smaller than these. They bound what a file
# (YAML aliases included) can make the loader walk.
MAX_ITEMS = 50
MAX_CONDITIONS = 64
MAX_NESTING = 6
MAX_TEXT = 4000
MAX_TITLE = 200
MATCH_MODES = ("all", "any")
FIELDS = (
    "id",
    "title",
    "description",
    "symptoms",
    "match",
    "evidence",
    "distinguish",
    "immediate_actions",
    "corrective_actions",
    "references",
    "related",
)
REQUIRED = ("id", "title", "description", "evidence")
CLUE_FIELDS = ("probe", "verdict", "conditions", "says")
TEST_WORDS = ("at_least", "at_most", "one_of", "contains", "not", "present")
VERDICT_WORDS = {
    True: Verdict.TRUE,
    False: Verdict.FALSE,
    None: Verdict.INCONCLUSIVE,
    "true": Verdict.TRUE,
    "false": Verdict.FALSE,
    "inconclusive": Verdict.INCONCLUSIVE,
}
ID_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")

Scalar = str | int | float | bool


class Check(StrEnum):
    HOLDS = "holds"
    FAILS = "fails"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Checked:
    """A check's outcome, and what it saw: the evidence that held, or why it did not."""

    state: Check
    detail: str


def same(a: JsonScalar, b: JsonScalar) -> bool:
    """Equal as JSON means it: `true` is not `1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def shown(value: JsonScalar) -> str:
    """A value as the YAML that matches it would write it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(truncate(str(value), 80))


@dataclass(frozen=True)
class ValueTest:
    """What a value (a column's, a metric's, a count of rows) must be; every test given must pass."""

    equals: Scalar | None = None
    differs: Scalar | None = None  # written `not:`
    at_least: float | None = None
    at_most: float | None = None
    one_of: tuple[Scalar | None, ...] | None = None
    contains: str | None = None
    present: bool | None = None

    def passes(self, value: JsonScalar) -> bool:
        checks = [
            self.equals is None or same(value, self.equals),
            self.differs is None or not same(value, self.differs),
            self.at_least is None or (is_number(value) and value >= self.at_least),  # type: ignore[operator]
            self.at_most is None or (is_number(value) and value <= self.at_most),  # type: ignore[operator]
            self.one_of is None or any(same(value, option) for option in self.one_of),
            self.contains is None or (isinstance(value, str) and self.contains.lower() in value.lower()),
            self.present is None or (value is not None) is self.present,
        ]
        return all(checks)

    def describe(self) -> str:
        parts = []
        if self.equals is not None:
            parts.append(f"= {shown(self.equals)}")
        if self.differs is not None:
            parts.append(f"≠ {shown(self.differs)}")
        if self.at_least is not None:
            parts.append(f"≥ {shown(self.at_least)}")
        if self.at_most is not None:
            parts.append(f"≤ {shown(self.at_most)}")
        if self.one_of is not None:
            parts.append("one of " + ", ".join(shown(option) for option in self.one_of))
        if self.contains is not None:
            parts.append(f"containing {self.contains!r}")
        if self.present is not None:
            parts.append("present" if self.present else "null")
        return " and ".join(parts)

    def to_yaml(self) -> Any:
        """As a pattern file writes it: a bare value for plain equality, else a mapping."""
        words = {
            "at_least": self.at_least,
            "at_most": self.at_most,
            "one_of": list(self.one_of) if self.one_of is not None else None,
            "contains": self.contains,
            "not": self.differs,
            "present": self.present,
        }
        given = {word: value for word, value in words.items() if value is not None}
        if self.equals is not None and not given:
            return self.equals
        return {**({"equals": self.equals} if self.equals is not None else {}), **given}


AT_LEAST_ONE = ValueTest(at_least=1)


@dataclass(frozen=True)
class TableCondition:
    """An evidence table has rows matching `where` (as many as `rows` says: at least one by default)."""

    table: str
    where: tuple[tuple[str, ValueTest], ...] = ()
    rows: ValueTest = AT_LEAST_ONE

    @property
    def _like(self) -> str:
        return " and ".join(f"{column} {test.describe()}" for column, test in self.where)

    def describe(self) -> str:
        like = self._like
        if self.rows == AT_LEAST_ONE:
            return f"{self.table} has a row where {like}" if like else f"{self.table} has rows"
        if self.rows == ValueTest(at_most=0):
            return f"{self.table} has no row where {like}" if like else f"{self.table} is empty"
        return f"{self.table} has rows{f' where {like}' if like else ''}, a count {self.rows.describe()}"

    def check(self, result: Result) -> Checked:
        table = next((t for t in result.evidence if t.name == self.table), None)
        if table is None:
            return Checked(Check.UNKNOWN, f"{result.probe} gave no {self.table} table")
        missing = [column for column, _ in self.where if column not in table.columns]
        if missing:
            return Checked(Check.UNKNOWN, f"{self.table} has no column {missing[0]}")
        rows = [row for row in table.records() if all(test.passes(row[c]) for c, test in self.where)]
        if self.rows.passes(len(rows)):
            return Checked(Check.HOLDS, self._cite(rows, table.columns[0]))
        if table.omitted and self.rows.at_least is not None and len(rows) < self.rows.at_least:
            return Checked(
                Check.UNKNOWN, f"{self.describe()}: not among the rows kept ({table.omitted} left out)"
            )
        return Checked(Check.FAILS, self._found(len(rows)))

    def _found(self, count: int) -> str:
        """What the table has instead of what the condition asks."""
        if count == 0 and self.rows == AT_LEAST_ONE:
            return f"{self.table} has no row where {self._like}" if self._like else f"{self.table} is empty"
        where = f" where {self._like}" if self._like else ""
        return f"{self.table} has {count} row(s){where}, not {self.rows.describe()}"

    def _cite(self, rows: list[dict[str, JsonScalar]], first: str) -> str:
        if not rows:
            return self.describe()
        columns = [first, *(column for column, _ in self.where if column != first)]
        row = ", ".join(f"{column} {shown(rows[0][column])}" for column in columns)
        more = f" (and {len(rows) - 1} more such rows)" if len(rows) > 1 else ""
        return f"{self.table}: {row}{more}"

    def to_yaml(self) -> dict[str, Any]:
        counted = self.rows.to_yaml() if self.rows != AT_LEAST_ONE else {}
        return {
            "table": self.table,
            **({"where": {column: test.to_yaml() for column, test in self.where}} if self.where else {}),
            **(counted if isinstance(counted, dict) else {"equals": counted}),
        }


@dataclass(frozen=True)
class MetricCondition:
    """A metric of the result passes a test."""

    metric: str
    test: ValueTest

    def describe(self) -> str:
        return f"{self.metric} {self.test.describe()}"

    def check(self, result: Result) -> Checked:
        metric = next((m for m in result.metrics if m.name == self.metric), None)
        if metric is None:
            return Checked(Check.UNKNOWN, f"{result.probe} reported no {self.metric} metric")
        if metric.value is None:
            return Checked(Check.UNKNOWN, f"{self.metric} has no value")
        seen = f"{self.metric} {shown(metric.value)} {metric.unit}".rstrip()
        if self.test.passes(metric.value):
            return Checked(Check.HOLDS, seen)
        return Checked(Check.FAILS, f"{seen}, not {self.test.describe()}")

    def to_yaml(self) -> dict[str, Any]:
        test = self.test.to_yaml()
        return {"metric": self.metric, **(test if isinstance(test, dict) else {"equals": test})}


@dataclass(frozen=True)
class AnyCondition:
    """One of several conditions holds."""

    options: tuple[Condition, ...]

    def describe(self) -> str:
        return "any of: " + "; ".join(option.describe() for option in self.options)

    def check(self, result: Result) -> Checked:
        checked = [option.check(result) for option in self.options]
        held = [c for c in checked if c.state is Check.HOLDS]
        if held:
            return held[0]
        if all(c.state is Check.FAILS for c in checked):
            return Checked(Check.FAILS, "none of: " + "; ".join(c.detail for c in checked))
        return Checked(Check.UNKNOWN, "; ".join(c.detail for c in checked if c.state is Check.UNKNOWN))

    def to_yaml(self) -> dict[str, Any]:
        return {"any": [option.to_yaml() for option in self.options]}


Condition = TableCondition | MetricCondition | AnyCondition


@dataclass(frozen=True)
class Clue:
    """One piece of evidence: a probe's result with a verdict that counts and conditions that hold."""

    probe: str
    verdicts: tuple[Verdict, ...] = (Verdict.TRUE,)
    conditions: tuple[Condition, ...] = ()
    says: str = ""  # the clue in words, for people; the conditions are worded when it is empty

    def describe(self) -> str:
        if self.says:
            return self.says
        verdicts = " or ".join(v.label for v in self.verdicts)
        conditions = "".join(f", and {condition.describe()}" for condition in self.conditions)
        return f"{self.probe} is {verdicts}{conditions}"

    def check(self, result: Result) -> Checked:
        if result.verdict not in self.verdicts:
            state = Check.UNKNOWN if result.verdict is Verdict.INCONCLUSIVE else Check.FAILS
            return Checked(state, result.summary)
        checked = [condition.check(result) for condition in self.conditions]
        failed = [c for c in checked if c.state is Check.FAILS]
        if failed:
            return Checked(Check.FAILS, f"{result.label}, but {failed[0].detail}")
        unknown = [c for c in checked if c.state is Check.UNKNOWN]
        if unknown:
            return Checked(Check.UNKNOWN, f"{result.label}, but {unknown[0].detail}")
        return Checked(Check.HOLDS, "; ".join(c.detail for c in checked))

    def to_yaml(self) -> dict[str, Any]:
        verdicts = [v.json if v is not Verdict.INCONCLUSIVE else "inconclusive" for v in self.verdicts]
        return {
            "probe": self.probe,
            "verdict": verdicts[0] if len(verdicts) == 1 else verdicts,
            **({"conditions": [c.to_yaml() for c in self.conditions]} if self.conditions else {}),
            **({"says": self.says} if self.says else {}),
        }


@dataclass(frozen=True)
class Reference:
    title: str
    url: str


@dataclass(frozen=True)
class Pattern:
    """One failure pattern, as a runbook entry with the evidence that matches it."""

    id: str
    title: str
    description: str
    evidence: tuple[Clue, ...]
    match: str = "all"  # every clue must hold, or (`any`) one of them
    symptoms: tuple[str, ...] = ()
    distinguish: tuple[str, ...] = ()  # how to tell it from its neighbours
    immediate_actions: tuple[str, ...] = ()  # containment
    corrective_actions: tuple[str, ...] = ()  # prevention
    references: tuple[Reference, ...] = ()
    related: tuple[str, ...] = ()  # other patterns' ids
    source: str = ""  # the file it was read from

    @property
    def deciding_probes(self) -> tuple[str, ...]:
        """The probes whose results match or rule out this pattern, each once."""
        return tuple(dict.fromkeys(clue.probe for clue in self.evidence))

    def to_dict(self) -> dict[str, Any]:
        """The pattern as its file writes it (and `source`, where it was read from)."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "symptoms": list(self.symptoms),
            "match": self.match,
            "evidence": [clue.to_yaml() for clue in self.evidence],
            "distinguish": list(self.distinguish),
            "immediate_actions": list(self.immediate_actions),
            "corrective_actions": list(self.corrective_actions),
            "references": [{"title": r.title, "url": r.url} for r in self.references],
            "related": list(self.related),
            "source": self.source,
        }


# Reading a pattern file: every mistake names the file, the field and the reason.


@dataclass
class _Reader:
    source: str
    conditions: int = 0

    def fail(self, where: str, reason: str) -> PatternError:
        return PatternError(f"pattern file {self.source}: {where}: {reason}")

    def mapping(self, value: object, where: str, known: Iterable[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping, not {_kind(value)}")
        known = tuple(known)
        for key in value:
            if key not in known:
                raise self.fail(where, f"unknown field {key!r} (known: {', '.join(known)})")
        return value

    def text(self, value: object, where: str, limit: int = MAX_TEXT) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"must be non-empty text, not {_kind(value)}")
        if len(value) > limit:
            raise self.fail(where, f"is longer than {limit} characters")
        return " ".join(value.split())

    def items(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list, not {_kind(value)}")
        if len(value) > MAX_ITEMS:
            raise self.fail(where, f"has more than {MAX_ITEMS} items")
        return value

    def texts(self, value: object, where: str) -> tuple[str, ...]:
        return tuple(self.text(item, f"{where}[{i}]") for i, item in enumerate(self.items(value, where)))

    def identifier(self, value: object, where: str) -> str:
        text = value if isinstance(value, str) else ""
        if not text or len(text) > 100 or not set(text) <= ID_CHARACTERS or not text[0].isalpha():
            raise self.fail(
                where,
                f"{value!r} is not a pattern id: lower-case letters, digits, '.', '-' and '_', "
                "starting with a letter",
            )
        return text

    def pattern(self, data: object) -> Pattern:
        if not isinstance(data, dict):
            raise PatternError(f"pattern file {self.source}: must be a mapping of fields, not {_kind(data)}")
        self.mapping(data, "the file", FIELDS)
        for name in REQUIRED:
            if name not in data:
                raise self.fail(name, "is required")
        match = data.get("match", "all")
        if match not in MATCH_MODES:
            raise self.fail("match", f"must be all or any, not {match!r}")
        evidence = self.items(data["evidence"], "evidence")
        if not evidence:
            raise self.fail("evidence", "needs at least one clue")
        return Pattern(
            id=self.identifier(data["id"], "id"),
            title=self.text(data["title"], "title", MAX_TITLE),
            description=self.text(data["description"], "description"),
            evidence=tuple(self.clue(item, f"evidence[{i}]") for i, item in enumerate(evidence)),
            match=match,
            symptoms=self.texts(data.get("symptoms", []), "symptoms"),
            distinguish=self.texts(data.get("distinguish", []), "distinguish"),
            immediate_actions=self.texts(data.get("immediate_actions", []), "immediate_actions"),
            corrective_actions=self.texts(data.get("corrective_actions", []), "corrective_actions"),
            references=tuple(
                self.reference(item, f"references[{i}]")
                for i, item in enumerate(self.items(data.get("references", []), "references"))
            ),
            related=tuple(
                self.identifier(item, f"related[{i}]")
                for i, item in enumerate(self.items(data.get("related", []), "related"))
            ),
            source=self.source,
        )

    def reference(self, value: object, where: str) -> Reference:
        data = self.mapping(value, where, ("title", "url"))
        for name in ("title", "url"):
            if name not in data:
                raise self.fail(f"{where}.{name}", "is required")
        url = self.text(data["url"], f"{where}.url")
        if not url.startswith(("https://", "http://")) or any(c.isspace() or c in "<>\"'" for c in url):
            raise self.fail(f"{where}.url", f"{url!r} is not an http(s) URL")
        return Reference(self.text(data["title"], f"{where}.title", MAX_TITLE), url)

    def clue(self, value: object, where: str) -> Clue:
        data = self.mapping(value, where, CLUE_FIELDS)
        if "probe" not in data:
            raise self.fail(f"{where}.probe", "is required")
        probe = data["probe"]
        if not isinstance(probe, str) or not probe.strip():
            raise self.fail(f"{where}.probe", f"must be a probe id, not {_kind(probe)}")
        return Clue(
            probe=probe.strip(),
            verdicts=self.verdicts(data.get("verdict", True), f"{where}.verdict"),
            conditions=tuple(
                self.condition(item, f"{where}.conditions[{i}]", 1)
                for i, item in enumerate(self.items(data.get("conditions", []), f"{where}.conditions"))
            ),
            says=self.text(data["says"], f"{where}.says") if "says" in data else "",
        )

    def verdicts(self, value: object, where: str) -> tuple[Verdict, ...]:
        given = value if isinstance(value, list) else [value]
        found = []
        for item in given:
            word = item.lower() if isinstance(item, str) else item
            if not isinstance(word, bool | str | None) or word not in VERDICT_WORDS:
                raise self.fail(where, f"{item!r} is not a verdict: true, false or inconclusive")
            found.append(VERDICT_WORDS[word])
        if not found:
            raise self.fail(where, "names no verdict")
        return tuple(dict.fromkeys(found))

    def condition(self, value: object, where: str, depth: int) -> Condition:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.fail(where, f"the pattern has more than {MAX_CONDITIONS} conditions")
        if depth > MAX_NESTING:
            raise self.fail(where, f"conditions nest more than {MAX_NESTING} deep")
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping (table:, metric: or any:), not {_kind(value)}")
        kinds = [word for word in ("table", "metric", "any") if word in value]
        if len(kinds) != 1:
            raise self.fail(where, "must have exactly one of table:, metric: or any:")
        if kinds == ["any"]:
            self.mapping(value, where, ("any",))
            options = self.items(value["any"], f"{where}.any")
            if len(options) < 2:
                raise self.fail(f"{where}.any", "needs at least two conditions")
            return AnyCondition(
                tuple(self.condition(o, f"{where}.any[{i}]", depth + 1) for i, o in enumerate(options))
            )
        if kinds == ["metric"]:
            self.mapping(value, where, ("metric", "equals", *TEST_WORDS))
            test = self.test({k: v for k, v in value.items() if k != "metric"}, where)
            if test == ValueTest():
                raise self.fail(
                    where, f"says nothing about the metric: give one of equals, {', '.join(TEST_WORDS)}"
                )
            return MetricCondition(self.text(value["metric"], f"{where}.metric", MAX_TITLE), test)
        self.mapping(value, where, ("table", "where", "equals", "at_least", "at_most"))
        where_given = value.get("where", {})
        if not isinstance(where_given, dict):
            raise self.fail(
                f"{where}.where", f"must be a mapping of column to value, not {_kind(where_given)}"
            )
        if len(where_given) > MAX_ITEMS:
            raise self.fail(f"{where}.where", f"has more than {MAX_ITEMS} columns")
        columns = tuple(
            (
                self.text(column, f"{where}.where", MAX_TITLE),
                self.column_test(test, f"{where}.where.{column}"),
            )
            for column, test in where_given.items()
        )
        counted = {k: v for k, v in value.items() if k in ("equals", "at_least", "at_most")}
        return TableCondition(
            self.text(value["table"], f"{where}.table", MAX_TITLE),
            columns,
            self.test(counted, where) if counted else AT_LEAST_ONE,
        )

    def column_test(self, value: object, where: str) -> ValueTest:
        if value is None:
            return ValueTest(present=False)
        if isinstance(value, dict):
            self.mapping(value, where, ("equals", *TEST_WORDS))
            if not value:
                raise self.fail(where, "is an empty test")
            return self.test(value, where)
        return ValueTest(equals=self.scalar(value, where))

    def test(self, words: Mapping[str, Any], where: str) -> ValueTest:
        def number(word: str) -> float | None:
            if word not in words:
                return None
            if not is_number(words[word]):
                raise self.fail(f"{where}.{word}", f"must be a number, not {_kind(words[word])}")
            return words[word]  # type: ignore[no-any-return]

        options = words.get("one_of")
        if options is not None:
            options = tuple(
                self.scalar(o, f"{where}.one_of[{i}]", nullable=True)
                for i, o in enumerate(self.items(options, f"{where}.one_of"))
            )
        present = words.get("present")
        if present is not None and not isinstance(present, bool):
            raise self.fail(f"{where}.present", f"must be true or false, not {_kind(present)}")
        contains = words.get("contains")
        if contains is not None:
            contains = self.text(contains, f"{where}.contains", MAX_TITLE)
        return ValueTest(
            equals=self.scalar(words["equals"], f"{where}.equals") if "equals" in words else None,
            differs=self.scalar(words["not"], f"{where}.not") if "not" in words else None,
            at_least=number("at_least"),
            at_most=number("at_most"),
            one_of=options,
            contains=contains,
            present=present,
        )

    def scalar(self, value: object, where: str, *, nullable: bool = False) -> Any:
        if value is None and nullable:
            return None
        if isinstance(value, str | bool) or is_number(value):
            return value
        hint = " (write present: false for null)" if value is None else ""
        raise self.fail(where, f"must be text, a number or true/false, not {_kind(value)}{hint}")


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def read_pattern(text: bytes, source: str) -> Pattern:
    """One pattern from the text of its file; `source` names the file in errors."""
    if len(text) > MAX_PATTERN_BYTES:
        raise PatternError(f"pattern file {source}: larger than {MAX_PATTERN_BYTES // 1024} KiB")
    return _Reader(source).pattern(parse_yaml(text, f"pattern file {source}", PatternError))


def pattern_files(folder: Traversable) -> list[Traversable]:
    """The pattern files of a folder (`*.yaml`, `*.yml`; not `_private` ones), by name."""
    found = [
        entry
        for entry in folder.iterdir()
        if entry.name.endswith(PATTERN_SUFFIXES) and not entry.name.startswith((".", "_")) and entry.is_file()
    ]
    return sorted(found, key=lambda entry: entry.name)


def read_folder(source: PatternSource) -> Iterator[Pattern]:
    """Every pattern in a source's folder."""
    for entry in pattern_files(source.folder):
        yield read_pattern(entry.read_bytes(), source.describe(entry.name))


class PatternCatalogue:
    """Failure patterns by id, in the order their sources were read (built in first)."""

    def __init__(self, patterns: Iterable[Pattern] = ()) -> None:
        self._patterns: dict[str, Pattern] = {}
        for pattern in patterns:
            existing = self._patterns.get(pattern.id)
            if existing is not None:
                raise PatternError(
                    f"pattern id {pattern.id} is defined twice: in {existing.source} and in {pattern.source}"
                )
            self._patterns[pattern.id] = pattern

    def check(self, probes: Container[str]) -> None:
        """Every probe a pattern names is registered, and every related pattern exists: a
        pattern that could never match is an error when the catalogue loads."""
        for pattern in self._patterns.values():
            for index, clue in enumerate(pattern.evidence):
                if clue.probe not in probes:
                    raise PatternError(
                        f"pattern file {pattern.source}: evidence[{index}].probe: unknown probe "
                        f"{clue.probe!r} (run `incident-lab probes` for the catalogue)"
                    )
            for index, other in enumerate(pattern.related):
                if other not in self._patterns:
                    raise PatternError(
                        f"pattern file {pattern.source}: related[{index}]: unknown pattern {other!r}"
                    )

    def get(self, pattern_id: str) -> Pattern:
        try:
            return self._patterns[pattern_id]
        except KeyError:
            raise UsageError(
                f"unknown pattern id {pattern_id!r} (run `incident-lab patterns` for the catalogue)"
            ) from None

    def __contains__(self, pattern_id: object) -> bool:
        return pattern_id in self._patterns

    def __iter__(self) -> Iterator[Pattern]:
        return iter(self._patterns.values())

    def __len__(self) -> int:
        return len(self._patterns)


@dataclass(frozen=True)
class PatternSource:
    """A folder of pattern files: where it is, and (for a package's) where it came from."""

    folder: Traversable
    where: str
    origin: str = ""

    def describe(self, name: str) -> str:
        """One of its files, as errors name it."""
        return f"{self.where}/{name}" + (f" ({self.origin})" if self.origin else "")


def load_patterns(sources: Iterable[PatternSource], probes: Container[str]) -> PatternCatalogue:
    """The patterns of every source, checked against the probes that exist."""
    catalogue = PatternCatalogue(pattern for source in sources for pattern in read_folder(source))
    catalogue.check(probes)
    return catalogue
