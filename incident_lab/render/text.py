"""Plain-text rendering of results for terminals (no pandas needed on this path)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from incident_lab.result import JsonScalar, Result, Table
from incident_lab.verdict import Verdict

# C0 and C1 control characters, but for newline and tab: what a terminal would obey.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """Text from databases, providers and archives, made harmless to a terminal: every
    control character (an escape sequence that clears the screen, say) shown as `\\x1b`."""
    return CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def verdict_words(verdict: Verdict) -> str:
    """`TRUE (confirmed)`, `FALSE (refuted)`, `INCONCLUSIVE (unknown)`."""
    return f"{verdict.label.upper()} ({verdict.symptom_word.lower()})"


def cell(value: JsonScalar, width: int = 48) -> str:
    if value is None:
        return ""
    text = f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(columns: Sequence[str], rows: Sequence[Sequence[JsonScalar]], limit: int = 50) -> str:
    shown = [[cell(value) for value in row] for row in rows[:limit]]
    widths = [max([len(column), *(len(row[i]) for row in shown)]) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)) for row in shown]
    if len(rows) > limit:
        lines.append(f"… {len(rows) - limit} more rows")
    return "\n".join(line.rstrip() for line in lines)


def format_evidence(table: Table) -> str:
    if not table.rows:
        return f"{table.name}: (no rows)"
    left_out = f"\n… {table.omitted} more rows were left out of the evidence" if table.omitted else ""
    return f"{table.name}:\n" + format_table(table.columns, table.rows) + left_out


def format_result(result: Result, *, show_test: bool = False) -> str:
    parts = [
        f"{result.probe} on {result.target}",
        f"Hypothesis: {result.hypothesis}",
        f"Verdict: {verdict_words(result.verdict)}: {result.summary}",
    ]
    parts += [f"Hint: {hint}" for hint in result.hints]
    if result.error:
        parts.append(f"Error: {result.error}")
    parts += ["", *(format_evidence(table) + "\n" for table in result.evidence)]
    if result.metrics:
        parts.append(
            "metrics:\n"
            + format_table(["name", "value", "unit"], [[m.name, m.value, m.unit] for m in result.metrics])
        )
    if show_test:
        parts += ["", "test:", result.test or "(nothing was run)"]
    parts.append(f"\n({result.duration_ms:.0f} ms, started {result.started_at})")
    return "\n".join(parts)
