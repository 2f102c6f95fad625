"""HTML renderings for the notebook and the report. Everything from a probe or a
database (query text above all) is escaped: a report must never run what it quotes."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from incident_lab.render.text import cell
from incident_lab.result import JsonScalar, QueryRecord, Result, Table
from incident_lab.verdict import Verdict

ROW_LIMIT = 50
CELL_WIDTH = 120
TREE_DEPTH = "depth"  # a column that makes an evidence table read as a tree


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


def cell_html(value: JsonScalar, width: int = CELL_WIDTH) -> str:
    """One escaped cell; long text is cut to one line, the whole of it a click away."""
    whole = cell(value, width=10**9)
    if len(whole) <= width:
        return escape(whole)
    return f"<details><summary>{escape(cell(value, width))}</summary>{escape(whole)}</details>"


def table_html(
    columns: Sequence[str],
    rows: Sequence[Sequence[JsonScalar]],
    limit: int = ROW_LIMIT,
    *,
    raw_columns: int = 0,
) -> str:
    """An escaped HTML table; the first `raw_columns` columns hold HTML made by this module.
    A table with a `depth` column is a tree: its first column is indented by depth."""
    depth_at = columns.index(TREE_DEPTH) if TREE_DEPTH in columns else None
    head = "".join(f"<th>{escape(column)}</th>" for column in columns)

    def row_html(row: Sequence[JsonScalar]) -> str:
        cells = []
        for index, value in enumerate(row):
            text = value if index < raw_columns else cell_html(value)
            if index == 0 and depth_at is not None and isinstance(row[depth_at], int) and row[depth_at]:
                text = f'<span style="padding-left:{1.2 * row[depth_at]:.1f}em">└ {text}</span>'
            tree_root = index == 0 and depth_at is not None  # the tree's column stays on one line
            cells.append(f'<td style="white-space:nowrap">{text}</td>' if tree_root else f"<td>{text}</td>")
        return "<tr>" + "".join(cells) + "</tr>"

    body = "".join(row_html(row) for row in rows[:limit])
    more = f"<p><em>{len(rows) - limit} more rows in results.json</em></p>" if len(rows) > limit else ""
    # A wide table (a blocking tree's queries) scrolls on its own rather than squeezing each
    # column until every word wraps, in JupyterLab and in the report alike.
    table = f'<table class="il-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="il-table-scroll" style="overflow-x:auto;max-width:100%">{table}</div>{more}'


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


def query_html(query: QueryRecord) -> str:
    """An ad-hoc query kept as evidence: what ran where and when, and its rows or its error."""
    outcome = (
        f"<p><strong>Error:</strong> <code>{escape(query.error)}</code></p>"
        if query.error
        else evidence_html(query.rows)
    )
    return (
        f'<div class="il-query"><p><strong>Query: {escape(query.title)}</strong> on '
        f"<code>{escape(query.target)}</code>, {escape(query.started_at)}, {query.duration_ms:.0f} ms</p>"
        f"<pre>{escape(query.statement)}</pre>{outcome}</div>"
    )
