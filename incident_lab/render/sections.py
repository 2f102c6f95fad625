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

from incident_lab.investigation.params import SYMPTOMS
from incident_lab.investigation.state import Investigation
from incident_lab.render import figures
from incident_lab.render.html import status_badge, table_html
from incident_lab.result import Result
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
    return [
        Markdown(
            f"# [{p.date}] {plain(p.incident)}\n\n**Severity:** {p.severity}  \n**Status:** {p.status}  \n"
            f"**Commander:** {plain(p.commander) or '_unassigned_'}"
        )
    ]


def symptom_results(investigation: Investigation) -> dict[str, list[tuple[int, Result]]]:
    """For each symptom of the template, the results (with their hypothesis's index) that
    measure it: those whose hypothesis says so first, then those whose probe declares it."""
    registry = investigation.registry
    said: dict[str, list[tuple[int, Result]]] = {}
    declared: dict[str, list[tuple[int, Result]]] = {}
    for index, (hypothesis, result) in enumerate(
        zip(investigation.hypotheses, investigation.results, strict=False)
    ):
        if hypothesis.symptom:
            said.setdefault(hypothesis.symptom, []).append((index, result))
        elif result.probe in registry and registry.get(result.probe).symptom:
            declared.setdefault(str(registry.get(result.probe).symptom), []).append((index, result))
    return {name: said.get(name, []) + declared.get(name, []) for name in {*said, *declared}}


def impact_results(investigation: Investigation) -> list[Result]:
    """The results that measure the template's User Impact."""
    return [result for _, result in symptom_results(investigation).get(USER_IMPACT, [])]


def immediate_actions(investigation: Investigation) -> list[Output]:
    hints = [hint for r in investigation.results if r.verdict is Verdict.TRUE for hint in r.hints]
    contain = "".join(f"\n  - [ ] **Probe hint:** {plain(hint)}" for hint in hints)
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


def hypotheses(investigation: Investigation) -> list[Output]:
    outputs: list[Output] = []
    registry = investigation.registry
    for index, hypothesis in enumerate(investigation.hypotheses):
        letter = hypothesis_letter(index)
        if index >= len(investigation.results):
            outputs.append(
                Markdown(
                    f"### Hypothesis {letter}: {plain(hypothesis.title)}\n\n"
                    "- *Result:* **not tested**: the investigation stopped before this hypothesis ran"
                )
            )
            continue
        result = investigation.results[index]
        probe = registry.get(hypothesis.probe)
        reason = "" if result.verdict is not Verdict.INCONCLUSIVE else " (why: see the summary)"
        outputs.append(
            Markdown(
                f"### Hypothesis {letter}: {plain(hypothesis.title)}\n\n"
                f"- *Test:* {plain(probe.test)} (`{probe.id}` on `{escape(result.target)}`)\n"
                f"- *Result:* **{result.label}**{reason}"
            )
        )
        outputs.append(ResultOutput(result))
        picture = figures.result_picture(result, registry, f"hypothesis-{letter.lower()}")
        if picture is not None:
            outputs.append(PictureOutput(picture))
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


def review(investigation: Investigation) -> list[Output]:
    p = investigation.params
    confirmed = [r for r in investigation.results if r.verdict is Verdict.TRUE]
    candidates = "\n".join(f"- {plain(r.hypothesis)}: {plain(r.summary)}" for r in confirmed)
    actions = p.corrective_actions or (
        "Add circuit breaker to X service",
        "Update runbook for Y scenario",
        "Add test case for Z condition",
    )
    return [
        Markdown(
            "*To be filled out 24-48h after resolution.*\n\n"
            f"**Root Cause:** {plain(p.root_cause) or '_to be decided; candidates confirmed by probes:_'}\n\n"
            f"{candidates or '- _none confirmed_'}\n\n"
            f"**Trigger:** {plain(p.trigger) or '_to be filled in_'}\n\n"
            "**Corrective Actions (P0/P1):**\n"
            + "\n".join(f"{i}. [ ] {plain(a)}" for i, a in enumerate(actions, 1))
        )
    ]
