"""The incident template's sections, rendered from an investigation's state.

Each section is a list of outputs (Markdown, HTML, a result, a chart) that whoever
shows it turns into notebook outputs: the template notebook displays them, the
panel could show them too. Everything from a user, a probe or a database is shown
as text only: escaped in HTML, and stripped of Markdown's meaning in Markdown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from incident_lab.failure_patterns import PatternCatalogue
from incident_lab.investigation.fleet import fleet_rows
from incident_lab.investigation.history import Confirmation, changed_params, clock, hypothesis_key
from incident_lab.investigation.matching import PatternMatch, Status, investigation_matches
from incident_lab.investigation.params import SYMPTOMS
from incident_lab.investigation.state import Investigation
from incident_lab.render import figures
from incident_lab.render.html import badge, query_html, result_html, status_badge, table_html
from incident_lab.render.patterns import CATALOGUE_FILE, match_when, pattern_link, shown_matches
from incident_lab.result import QueryRecord, Result
from incident_lab.verdict import Verdict
from incident_lab.wording import hypothesis_letter

USER_IMPACT = "User Impact"

MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


@dataclass(frozen=True)
class Markdown:
    text: str


@dataclass(frozen=True)
class Html:
    text: str


@dataclass(frozen=True)
class ResultOutput:
    """A result, shown as HTML and text and carrying its JSON (what `read_results` reads)."""

    result: Result


@dataclass(frozen=True)
class PictureOutput:
    picture: figures.Picture


Output = Markdown | Html | ResultOutput | PictureOutput


def plain(text: str) -> str:
    """Text from a user, a probe or a database, shown in Markdown as nothing but text:
    no HTML, no links, no emphasis."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", escape(text, quote=False))


def header(investigation: Investigation) -> list[Output]:
    p = investigation.params
    lines = [
        f"**Severity:** {p.severity}",
        f"**Status:** {p.status}",
        f"**Commander:** {plain(p.commander) or '_unassigned_'}",
    ]
    if p.service:
        lines.append(f"**Service:** {plain(p.service)}")
    if p.alert:
        fired = p.alert.get("fired_at", "")[:19].replace("T", " ")
        source = plain(p.alert.get("source", "an alert"))
        resolved = p.alert.get("resolved_at", "")[:19].replace("T", " ")
        lines.append(
            f"**Alert:** {plain(p.alert.get('status', ''))} ({source}), first fired `{fired} UTC`"
            + (f", resolved `{resolved} UTC`" if resolved else "")
        )
    shown: list[Output] = [Markdown(f"# [{p.date}] {plain(p.incident)}\n\n" + "  \n".join(lines))]
    if p.links:
        # HTML rather than Markdown: a URL's own parentheses and brackets cannot break the link.
        anchors = " · ".join(
            f'<a href="{escape(url)}" rel="noopener noreferrer">{escape(label)}</a>'
            for label, url in p.links.items()
        )
        shown.append(Html(f'<p class="incident-links"><strong>Links:</strong> {anchors}</p>'))
    return shown


def summary(investigation: Investigation) -> list[Output]:
    """A few lines a person can forward: what was confirmed, refuted, still unknown, and
    what is being done."""
    p = investigation.params
    confirmations = investigation.with_current().confirmations()
    now_true, cleared, since_changed, refuted, unknown = [], [], [], [], []
    for index, hypothesis in enumerate(investigation.hypotheses):
        result = investigation.latest(index)
        name = f"{hypothesis_letter(index)} {plain(hypothesis.title)}"
        confirmed = confirmations.get(hypothesis_key(result)) if result is not None else None
        if result is None:
            unknown.append(f"{name} (not tested yet)")
        elif result.verdict is Verdict.TRUE:
            now_true.append(f"{name}: {plain(result.summary)}")
        elif confirmed is not None and confirmed.cleared_at:
            cleared.append(
                f"{name}: confirmed at {clock(confirmed.result.started_at)}, cleared at "
                f"{clock(confirmed.cleared_at)} — {plain(confirmed.result.summary)}"
            )
        elif confirmed is not None:
            moved = changed_params(confirmed.result, result)
            now = f"{result.label} since its parameters changed ({moved})" if moved else result.label
            since_changed.append(
                f"{name}: confirmed at {clock(confirmed.result.started_at)}, now {plain(now)} — "
                f"{plain(confirmed.result.summary)}"
            )
        elif result.verdict is Verdict.FALSE:
            refuted.append(name)
        else:
            unknown.append(f"{name} ({plain(result.summary)})")
    lines = [f"**Summary** — status {p.status}, severity {p.severity}."]
    lines += [f"- **Confirmed:** {item}" for item in now_true]
    lines += [f"- **Confirmed earlier, now cleared:** {item}" for item in cleared]
    lines += [f"- **Confirmed earlier, not cleared:** {item}" for item in since_changed]
    if refuted:
        lines.append(f"- **Refuted:** {'; '.join(refuted)}")
    lines += [f"- **Still unknown:** {item}" for item in unknown]
    lines.append(f"- **Being done:** {plain(p.action_taken) or '_no action recorded yet_'}")
    return [Markdown("\n".join(lines))]


def symptom_results(investigation: Investigation) -> dict[str, list[tuple[int, Result]]]:
    """For each symptom of the template, the results (with their hypothesis's index) that
    measure it: those whose hypothesis says so first, then those whose probe declares it."""
    registry = investigation.registry
    said: dict[str, list[tuple[int, Result]]] = {}
    declared: dict[str, list[tuple[int, Result]]] = {}
    for index, hypothesis in enumerate(investigation.hypotheses):
        result = investigation.latest(index)
        if result is None:
            continue
        if hypothesis.symptom:
            said.setdefault(hypothesis.symptom, []).append((index, result))
        elif result.probe in registry and registry.get(result.probe).symptom:
            declared.setdefault(str(registry.get(result.probe).symptom), []).append((index, result))
    return {name: said.get(name, []) + declared.get(name, []) for name in {*said, *declared}}


def impact_results(investigation: Investigation) -> list[Result]:
    """The results that measure the template's User Impact."""
    return [result for _, result in symptom_results(investigation).get(USER_IMPACT, [])]


def pattern_actions(investigation: Investigation) -> str:
    """The immediate actions of the patterns matched now, under each pattern's name."""
    catalogue = investigation.registry.patterns
    lines = []
    for match in investigation_matches(investigation):
        if match.status is Status.MATCHED and match.pattern in catalogue:
            lines.append(f"\n  - **Pattern [{plain(match.title)}]({pattern_link(match.pattern)}):**")
            lines += [f"\n    - [ ] {plain(a)}" for a in catalogue.get(match.pattern).immediate_actions]
    return "".join(lines)


def immediate_actions(investigation: Investigation) -> list[Output]:
    hints = [hint for r in investigation.results if r.verdict is Verdict.TRUE for hint in r.hints]
    contain = "".join(f"\n  - [ ] **Probe hint:** {plain(hint)}" for hint in hints)
    contain += pattern_actions(investigation)
    impact = impact_results(investigation)
    impact_note = f" — probe: {plain(impact[0].summary)}" if impact else ""
    return [
        Markdown(
            "- [ ] **Acknowledge:** Confirm incident in `#incidents` channel.\n"
            f"- [ ] **Assess:** Is this localized or global? (Check User Impact){impact_note}\n"
            "- [ ] **Contain:** Can we stop the harm?\n"
            "  - [ ] Default to **Rollback** if a recent change was made.\n"
            "  - [ ] Enable **Feature Flags** / Kill Switches.\n"
            f"  - [ ] Isolate the affected cell/shard.{contain}\n"
            "- [ ] **Communicate:** Update status page (internal/external)."
        )
    ]


def symptom_note(result: Result) -> str:
    """What the template's Notes column says: the summary's first clause ("10 of 20
    requests failed (50%, threshold 5%)")."""
    return result.summary.split("; ")[0].removesuffix(".")


def symptoms(investigation: Investigation) -> list[Output]:
    """The template's symptom table: User Impact always, the other symptoms (the template's,
    then a team's own) where a hypothesis or a probe measures them, each from its first result."""
    measured = symptom_results(investigation)
    rows = []
    for name in [*SYMPTOMS, *sorted(set(measured) - set(SYMPTOMS))]:
        found = measured.get(name, [])
        if found:
            index, result = found[0]
            note = f"{symptom_note(result)} (Hypothesis {hypothesis_letter(index)})"
            rows.append([escape(name), status_badge(result.verdict), note])
        elif name == USER_IMPACT:
            note = "no hypothesis measures it (http.error_rate, or a metric with symptom: User Impact)"
            rows.append([escape(name), status_badge(Verdict.INCONCLUSIVE), note])
    started = investigation.params.started_at
    when = [Markdown(f"**Incident start:** `{started[:19].replace('T', ' ')} UTC`")] if started else []
    return [*when, Html(table_html(["Metric", "Status", "Notes"], rows, raw_columns=2))]


def timeline(investigation: Investigation) -> list[Output]:
    entries = investigation.with_current().timeline()
    lines = [f"- `{entry.at[11:19]} UTC` — {plain(entry.text)}" for entry in entries]
    return [Markdown("**Timeline:**\n\n" + ("\n".join(lines) if lines else "_no probe has run yet_"))]


def overview(investigation: Investigation) -> list[Output]:
    return [PictureOutput(figures.verdict_overview(investigation.results))] if investigation.results else []


def anchor(letter: str) -> str:
    return f"il-hypothesis-{letter.lower()}"


def fleet(investigation: Investigation) -> list[Output]:
    """The fleet matrix: each hypothesis tested on several targets, a row; each target, a
    column; each cell its verdict and headline metric, a click away from its evidence.
    Targets that differ from the rest of the fleet are marked and named."""
    rows = fleet_rows(investigation.hypotheses, investigation.latest_results)
    if not rows:
        return []
    targets = list(dict.fromkeys(target for row in rows for target in row.cells))
    head = "".join(f"<th>{escape(target)}</th>" for target in targets)
    lines = []
    for row in rows:
        cells = []
        for target in targets:
            result, index = row.cells.get(target), row.indices.get(target)
            if index is None:
                cells.append("<td></td>")
                continue
            odd = ' style="background:#fff3cd;outline:2px solid #f9a825"' if target in row.outliers else ""
            shown = (
                badge(result.verdict) + f"<br><small>{escape(cell_note(result))}</small>"
                if result
                else "not run"
            )
            link = f'<a href="#{anchor(hypothesis_letter(index))}">{shown}</a>'
            cells.append(f'<td class="il-fleet-cell"{odd}>{link}</td>')
        lines.append(f"<tr><th>{escape(row.title)}</th>{''.join(cells)}</tr>")
    said = "".join(f"<li>{escape(row.sentence())}</li>" for row in rows if row.sentence())
    body = "".join(lines)
    table = f'<table class="il-fleet"><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>'
    return [Markdown("**Across the fleet**"), Html((f"<ul>{said}</ul>" if said else "") + table)]


def cell_note(result: Result) -> str:
    """A fleet cell's headline: the result's first metric, else its summary's start."""
    measured = next((m for m in result.metrics if m.value is not None), None)
    if measured is not None:
        return f"{measured.name} {measured.value:g}"
    return result.summary[:40]


def confirmed_evidence(confirmation: Confirmation) -> Html:
    """The evidence that confirmed a hypothesis that no longer holds, with its times."""
    result = confirmation.result
    cleared = f"; cleared at {clock(confirmation.cleared_at)}" if confirmation.cleared_at else ""
    when = f"<strong>Confirmed at {clock(result.started_at)}</strong> (first at {clock(confirmation.since)})"
    return Html(
        f'<div class="il-confirmed"><p>{when}{cleared}. The evidence that confirmed it:</p>'
        + result_html(result)
        + "</div>"
    )


def query_outputs(queries: list[QueryRecord]) -> list[Output]:
    return [Html(query_html(query)) for query in queries]


def hypotheses(investigation: Investigation) -> list[Output]:
    outputs: list[Output] = []
    registry = investigation.registry
    confirmations = investigation.with_current().confirmations()
    for index, hypothesis in enumerate(investigation.hypotheses):
        letter = hypothesis_letter(index)
        probe = registry.get(hypothesis.probe)
        result = investigation.latest(index)
        queries = [q for q in investigation.queries if q.hypothesis == hypothesis.title]
        if result is None:
            outputs.append(
                Markdown(
                    f"### Hypothesis {letter}: {plain(hypothesis.title)}\n\n"
                    f"- *Test:* {plain(probe.test)} (`{probe.id}` on `{escape(hypothesis.target)}`)\n"
                    "- *Result:* **not tested**: the investigation stopped before this hypothesis ran"
                )
            )
            outputs += query_outputs(queries)
            continue
        reason = "" if result.verdict is not Verdict.INCONCLUSIVE else " (why: see the summary)"
        outputs.append(Html(f'<a id="{anchor(letter)}"></a>'))
        outputs.append(
            Markdown(
                f"### Hypothesis {letter}: {plain(hypothesis.title)}\n\n"
                f"- *Test:* {plain(probe.test)} (`{probe.id}` on `{escape(result.target)}`)\n"
                f"- *Result:* **{result.label}**{reason}"
            )
        )
        confirmed = confirmations.get(hypothesis_key(result))
        if confirmed is not None and result.verdict is not Verdict.TRUE:
            outputs.append(confirmed_evidence(confirmed))
        outputs.append(ResultOutput(result))
        picture = figures.result_picture(result, registry, f"hypothesis-{letter.lower()}")
        if picture is not None:
            outputs.append(PictureOutput(picture))
        outputs += query_outputs(queries)
    titles = {hypothesis.title for hypothesis in investigation.hypotheses}
    others = [q for q in investigation.queries if q.hypothesis not in titles]
    if others:
        outputs.append(Markdown("### Queries"))
        outputs += query_outputs(others)
    return outputs


def metrics_over_time(investigation: Investigation) -> list[Output]:
    picture = figures.metrics_over_time(investigation.with_current().metric_points())
    if picture is None:
        return [Markdown("_Metrics over time appear once the incident has several runs._")]
    return [PictureOutput(picture)]


def resolution(investigation: Investigation) -> list[Output]:
    p = investigation.params
    return [
        Markdown(
            f"- **Action Taken:** {plain(p.action_taken) or '_to be filled in_'}\n"
            f"- **Verification:** {plain(p.verification) or '_to be filled in_'}\n"
            f"- **Cleanup:** {plain(p.cleanup) or '_to be filled in_'}"
        )
    ]


def corrective_actions(
    given: tuple[str, ...], matches: list[PatternMatch], catalogue: PatternCatalogue
) -> list[str]:
    """The operator's corrective actions, then those of every pattern matched during the
    incident, each once; never the template's placeholders."""
    actions = {plain(action): None for action in given}
    for match in matches:
        if match.matched_ever and match.pattern in catalogue:
            source = f"pattern [{plain(match.pattern)}]({pattern_link(match.pattern)})"
            for action in catalogue.get(match.pattern).corrective_actions:
                actions.setdefault(f"{plain(action)} ({source})")
    return list(actions)


def related_patterns(matches: list[PatternMatch]) -> str:
    """The template's Related Patterns: matched patterns with their evidence, then those
    matched earlier, then those ruled out, linking into the run's failure-patterns.md."""
    shown, still_open = shown_matches(matches)
    lines = []
    for match in shown:
        when = match_when(match)
        link = f"[{plain(match.title)}]({pattern_link(match.pattern)})"
        lines.append(f"- **{str(match.status).capitalize()}:** {link}" + (f" — {when}" if when else ""))
        cited = match.evidence if match.matched_ever else match.evidence[:1]
        lines += [f"  - {plain(citation.text())}" for citation in cited]
    if still_open:
        lines.append(f"- _{len(still_open)} more pattern(s) open: not enough evidence either way_")
    lines.append(f"- [The failure-pattern catalogue]({CATALOGUE_FILE})")
    return "\n".join(lines)


def review(investigation: Investigation) -> list[Output]:
    """The review; its root-cause candidates are every hypothesis confirmed at any time of the
    incident, not only those that still hold. Corrective actions and related patterns come
    from the failure patterns the incident matched."""
    p = investigation.params
    confirmations = investigation.with_current().confirmations().values()
    candidates = "\n".join(
        f"- {plain(c.result.hypothesis)}: {plain(c.result.summary)} "
        f"(confirmed at {clock(c.result.started_at)}"
        + (f", cleared at {clock(c.cleared_at)})" if c.cleared_at else ")")
        for c in confirmations
    )
    matches = investigation_matches(investigation)
    actions = corrective_actions(p.corrective_actions, matches, investigation.registry.patterns)
    numbered = "\n".join(f"{i}. [ ] {a}" for i, a in enumerate(actions, 1))
    root_cause = plain(p.root_cause) or "_to be decided; candidates confirmed by probes during the incident:_"
    return [
        Markdown(
            "*To be filled out 24-48h after resolution.*\n\n"
            f"**Root Cause:** {root_cause}\n\n"
            f"{candidates or '- _none confirmed_'}\n\n"
            f"**Trigger:** {plain(p.trigger) or '_to be filled in_'}\n\n"
            "**Corrective Actions (P0/P1):**\n"
            + (numbered or "_none yet: no failure pattern matched and none were given (corrective_actions)_")
            + f"\n\n**Related Patterns:**\n{related_patterns(matches)}"
        )
    ]
