"""HTML renderings for the notebook and the report. Everything from a probe or a
database (query text above all) is escaped: a report must never run what it quotes."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from incident_lab.result import JsonScalar, Result, Table
from incident_lab.text import cell

BADGE_COLOURS = {True: "#c62828", False: "#2e7d32", None: "#616161"}
# The template's symptom table: red when a hypothesis holds, green when refuted, yellow unknown.
STATUS_COLOURS = {True: "#c62828", False: "#2e7d32", None: "#f9a825"}
STATUS_WORDS = {True: "Confirmed", False: "Refuted", None: "Unknown"}
ROW_LIMIT = 50


def badge(
    verdict: bool | None, label: str | None = None, colours: dict[bool | None, str] = BADGE_COLOURS
) -> str:
    text = label or {True: "True", False: "False", None: "Inconclusive"}[verdict]
    return (
        f'<span class="il-badge" style="background:{colours[verdict]};color:white;'
        f'padding:1px 8px;border-radius:8px;font-weight:600">{escape(text)}</span>'
    )


def status_badge(verdict: bool | None) -> str:
    return badge(verdict, STATUS_WORDS[verdict], STATUS_COLOURS)


def table_html(
    columns: Sequence[str],
    rows: Sequence[Sequence[JsonScalar]],
    limit: int = ROW_LIMIT,
    *,
    raw_columns: int = 0,
) -> str:
    """An escaped HTML table; the first `raw_columns` columns hold HTML made by this module."""
    head = "".join(f"<th>{escape(column)}</th>" for column in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{value if index < raw_columns else escape(cell(value, 120))}</td>"
            for index, value in enumerate(row)
        )
        + "</tr>"
        for row in rows[:limit]
    )
    more = f"<p><em>{len(rows) - limit} more rows in results.json</em></p>" if len(rows) > limit else ""
    return f'<table class="il-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'


def evidence_html(table: Table) -> str:
    if not table.rows:
        return f"<p><strong>{escape(table.name)}</strong>: no rows</p>"
    return f"<p><strong>{escape(table.name)}</strong></p>" + table_html(table.columns, table.rows)


def result_html(result: Result) -> str:
    parts = [
        f'<div class="il-result"><p>{badge(result.verdict)} <strong>{escape(result.probe)}</strong>'
        f" on <code>{escape(result.target)}</code></p>",
        f"<p>{escape(result.summary)}</p>",
    ]
    if result.hints:
        parts.append("<ul>" + "".join(f"<li>{escape(hint)}</li>" for hint in result.hints) + "</ul>")
    if result.error:
        parts.append(f"<p><strong>Error:</strong> <code>{escape(result.error)}</code></p>")
    parts += [evidence_html(table) for table in result.evidence]
    if result.metrics:
        parts.append(
            "<p><strong>metrics</strong></p>"
            + table_html(
                ["name", "value", "unit", "at"], [[m.name, m.value, m.unit, m.at] for m in result.metrics]
            )
        )
    test = escape(result.test) if result.test else "(nothing was run)"
    parts.append(f"<details><summary>Exact test</summary><pre>{test}</pre></details>")
    parts.append(
        f"<p><small>started {escape(result.started_at)}, {result.duration_ms:.0f} ms, "
        f"parameters <code>{escape(str(result.params))}</code></small></p></div>"
    )
    return "".join(parts)
