"""HTML renderings for the notebook and the report. Everything from a probe or a
database (query text above all) is escaped: a report must never run what it quotes."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from incident_lab.render.text import cell
from incident_lab.result import JsonScalar, Result, Table
from incident_lab.verdict import Verdict

ROW_LIMIT = 50


def pill(text: str, colour: str) -> str:
    return (
        f'<span class="il-badge" style="background:{colour};color:white;'
        f'padding:1px 8px;border-radius:8px;font-weight:600">{escape(text)}</span>'
    )


def badge(verdict: Verdict) -> str:
    """The verdict as a coloured badge: True red, False green, Inconclusive grey."""
    return pill(verdict.label, verdict.colour)


def status_badge(verdict: Verdict) -> str:
    """The template's symptom-table status: Confirmed red, Refuted green, Unknown yellow."""
    return pill(verdict.symptom_word, verdict.symptom_colour)


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
    left_out = (
        f"<p><em>{table.omitted} more rows were left out of the evidence.</em></p>" if table.omitted else ""
    )
    return f"<p><strong>{escape(table.name)}</strong></p>" + table_html(table.columns, table.rows) + left_out


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
