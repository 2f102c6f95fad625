"""The public API the template notebook calls: a few lines per cell.

`Investigation.open(...)` takes the notebook's parameters, `run()` tests every
hypothesis, and each section method displays one part of the incident template.
Every result is displayed with its JSON under `MIME_TYPE`, next to HTML and text,
so that `read_results(path)` can read any executed notebook back.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incident_lab import charts
from incident_lab.describe import hypothesis_letter
from incident_lab.exceptions import UsageError
from incident_lab.history import IncidentHistory, Round, load_history
from incident_lab.html import result_html, status_badge, table_html
from incident_lab.investigation import STATUSES, InvestigationParams, choose, resolve
from incident_lab.probe import run_probe
from incident_lab.registry import Registry
from incident_lab.result import MIME_TYPE, Result
from incident_lab.runner import default_registry
from incident_lab.targets import parse_target
from incident_lab.text import format_result

if TYPE_CHECKING:
    from incident_lab.execute import RunOutcome
    from incident_lab.panel import InvestigationPanel

CHART_METADATA = "incident_lab_chart"
HEADLINE_METRICS = 3


def _display(*objects: Any, **kwargs: Any) -> None:
    from IPython.display import display

    display(*objects, **kwargs)


def show_html(text: str) -> None:
    from IPython.display import HTML

    _display(HTML(text))


MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def plain(text: str) -> str:
    """Text from a user, a probe or a database, shown in Markdown as nothing but text:
    no HTML, no links, no emphasis."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", escape(text, quote=False))


def show_markdown(text: str) -> None:
    from IPython.display import Markdown

    _display(Markdown(text))


def show_result(result: Result) -> None:
    """Display a result as HTML, text and its JSON (what `read_results` reads back)."""
    _display(
        {"text/plain": format_result(result), "text/html": result_html(result), MIME_TYPE: result.to_dict()},
        raw=True,
    )


def show_chart(chart: charts.Chart | None) -> None:
    if chart is None:
        return
    stem, data = chart
    _display({"image/png": base64.b64encode(data).decode()}, raw=True, metadata={CHART_METADATA: stem})


def read_results(path: str | Path) -> list[Result]:
    """The probe results displayed in an executed notebook, in order (local path or
    any URL papermill can read)."""
    import nbformat

    if "://" in str(path):
        from papermill.iorw import load_notebook_node

        notebook = load_notebook_node(str(path))
    else:
        notebook = nbformat.read(str(path), as_version=4)
    return [
        Result.from_dict(output["data"][MIME_TYPE])
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if MIME_TYPE in output.get("data", {})
    ]


@dataclass(frozen=True)
class Recorded:
    """Results already taken, and the rounds that took them, handed to the notebook in a file."""

    results: list[Result]
    rounds: list[Round]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({
            "results": [r.to_dict() for r in self.results],
            "rounds": [r.to_dict() for r in self.rounds],
        }))  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> Recorded:
        data = json.loads(Path(path).read_text())
        return cls(
            [Result.from_dict(r) for r in data["results"]], [Round.from_dict(r) for r in data["rounds"]]
        )


class Investigation:
    """One incident's hypotheses, their latest results, and its history so far.

    `history` is what earlier archived runs found; `rounds` is what this session did
    (probe runs, re-runs and status changes), in order.
    """

    def __init__(
        self,
        params: InvestigationParams,
        history: IncidentHistory,
        registry: Registry,
        *,
        archive_dir: str = "",
        recorded: Recorded | None = None,
    ) -> None:
        self.params = params
        self.history = history
        self.registry = registry
        self.archive_dir = archive_dir
        self.recorded = recorded
        self.results: list[Result] = []
        self.rounds: list[Round] = []

    @classmethod
    def open(
        cls,
        *,
        history_dir: str = "",
        archive_dir: str = "",
        recorded: str = "",
        registry: Registry | None = None,
        **values: Any,
    ) -> Investigation:
        """The investigation described by the notebook's parameters; `recorded` names a file
        of results already taken (by `watch` or the panel) to show instead of probing again."""
        chosen = registry or default_registry()
        return cls(
            resolve(values, chosen),
            load_history(history_dir),
            chosen,
            archive_dir=archive_dir,
            recorded=Recorded.load(recorded) if recorded else None,
        )

    # Running

    def run_hypothesis(self, index: int) -> Result:
        """Test one hypothesis now; failures are inconclusive results, never exceptions."""
        hypothesis = self.params.hypotheses[index]
        probe = self.registry.get(hypothesis.probe)
        target = parse_target(probe.target_kind, self.params.targets[hypothesis.target])
        return run_probe(probe, target, hypothesis.params, hypothesis=hypothesis.title)

    def run(self) -> list[Result]:
        """Test every hypothesis once, or take the recorded results when there are some."""
        if self.recorded is not None:
            self.results = list(self.recorded.results)
            self.rounds = list(self.recorded.rounds)
            return self.results
        self.results = [self.run_hypothesis(index) for index in range(len(self.params.hypotheses))]
        self.rounds.append(Round("notebook run", list(self.results), self.params.status))
        return self.results

    def rerun(self, index: int) -> Result:
        """Test one hypothesis again and record it as a round of its own."""
        result = self.run_hypothesis(index)
        self.record(index, result)
        return result

    def record(self, index: int, result: Result) -> None:
        if len(self.results) != len(self.params.hypotheses):
            raise UsageError("run the investigation once before re-running one hypothesis")
        self.results[index] = result
        self.rounds.append(Round(f"re-run of {hypothesis_letter(index)}", [result], self.params.status))

    def record_all(self, results: list[Result], label: str) -> None:
        self.results = list(results)
        self.rounds.append(Round(label, list(results), self.params.status))

    def set_status(self, status: str) -> None:
        """Change the incident's status; the change goes on the timeline."""
        if status == self.params.status:
            return
        self.params = replace(self.params, status=choose(status, STATUSES, "status"))
        self.rounds.append(Round("status", [], self.params.status))

    def with_current(self) -> IncidentHistory:
        return self.history.then(*self.rounds)

    def save_to_archive(self) -> RunOutcome:
        """Archive the current state as a new run of this incident, rendered by papermill."""
        from incident_lab.execute import run_investigation
        from incident_lab.remote import open_archive

        values = self.params.notebook_parameters()
        return run_investigation(
            values, open_archive(self.archive_dir or None), progress=False, registry=self.registry,
            recorded=Recorded(list(self.results), list(self.rounds)),
        )  # fmt: skip

    def panel(self, interactive: bool = True) -> InvestigationPanel | None:
        """Show the interactive panel in JupyterLab; under papermill (not interactive), nothing."""
        if not interactive:
            return None
        from incident_lab.panel import InvestigationPanel

        shown = InvestigationPanel(self)
        _display(shown.widget)
        return shown

    # The template's sections

    def header(self) -> None:
        p = self.params
        show_markdown(
            f"# [{p.date}] {plain(p.incident)}\n\n**Severity:** {p.severity}  \n**Status:** {p.status}  \n"
            f"**Commander:** {plain(p.commander) or '_unassigned_'}"
        )

    def immediate_actions(self) -> None:
        hints = [hint for r in self.results if r.verdict for hint in r.hints]
        contain = "".join(f"\n  - [ ] **Probe hint:** {plain(hint)}" for hint in hints)
        impact = next((r for r in self.results if r.probe == "http.error_rate"), None)
        impact_note = f" — probe: {plain(impact.summary)}" if impact else ""
        show_markdown(
            "- [ ] **Acknowledge:** Confirm incident in `#incidents` channel.\n"
            f"- [ ] **Assess:** Is this localized or global? (Check User Impact){impact_note}\n"
            "- [ ] **Contain:** Can we stop the harm?\n"
            "  - [ ] Default to **Rollback** if a recent change was made.\n"
            "  - [ ] Enable **Feature Flags** / Kill Switches.\n"
            f"  - [ ] Isolate the affected cell/shard.{contain}\n"
            "- [ ] **Communicate:** Update status page (internal/external)."
        )

    def symptoms(self) -> None:
        rows = [
            [
                status_badge(r.verdict),
                r.hypothesis,
                "; ".join(
                    f"{m.name} {m.value:g} {m.unit}"
                    for m in r.metrics[:HEADLINE_METRICS]
                    if m.value is not None
                )
                or r.summary,
            ]
            for r in self.results
        ]
        show_html(table_html(["Status", "Metric", "Notes"], rows, raw_columns=1))

    def timeline(self) -> None:
        entries = self.with_current().timeline()
        lines = [f"- `{entry.at[11:19]} UTC` — {plain(entry.text)}" for entry in entries]
        show_markdown("**Timeline:**\n\n" + ("\n".join(lines) if lines else "_no probe has run yet_"))

    def overview(self) -> None:
        if self.results:
            show_chart(charts.verdict_overview(self.results))

    def hypotheses(self) -> None:
        for index, hypothesis in enumerate(self.params.hypotheses):
            probe = self.registry.get(hypothesis.probe)
            if index >= len(self.results):
                show_markdown(
                    f"### Hypothesis {hypothesis_letter(index)}: {plain(hypothesis.title)}\n\n"
                    "- *Result:* **not tested**: the investigation stopped before this hypothesis ran"
                )
                continue
            result = self.results[index]
            reason = "" if result.verdict is not None else " (why: see the summary)"
            show_markdown(
                f"### Hypothesis {hypothesis_letter(index)}: {plain(hypothesis.title)}\n\n"
                f"- *Test:* {plain(probe.test)} (`{probe.id}` on `{escape(result.target)}`)\n"
                f"- *Result:* **{result.label}**{reason}"
            )
            show_result(result)
            show_chart(charts.hypothesis_chart(result, f"hypothesis-{hypothesis_letter(index).lower()}"))

    def metrics_over_time(self) -> None:
        chart = charts.metrics_over_time(self.with_current().metric_points())
        if chart is None:
            show_markdown("_Metrics over time appear once the incident has several runs._")
        show_chart(chart)

    def resolution(self) -> None:
        p = self.params
        show_markdown(
            f"- **Action Taken:** {plain(p.action_taken) or '_to be filled in_'}\n"
            f"- **Verification:** {plain(p.verification) or '_to be filled in_'}\n"
            f"- **Cleanup:** {plain(p.cleanup) or '_to be filled in_'}"
        )

    def review(self) -> None:
        p = self.params
        confirmed = [r for r in self.results if r.verdict]
        candidates = "\n".join(f"- {plain(r.hypothesis)}: {plain(r.summary)}" for r in confirmed)
        actions = p.corrective_actions or (
            "Add circuit breaker to X service",
            "Update runbook for Y scenario",
            "Add test case for Z condition",
        )
        show_markdown(
            "*To be filled out 24-48h after resolution.*\n\n"
            f"**Root Cause:** {plain(p.root_cause) or '_to be decided; candidates confirmed by probes:_'}\n\n"
            f"{candidates or '- _none confirmed_'}\n\n"
            f"**Trigger:** {plain(p.trigger) or '_to be filled in_'}\n\n"
            "**Corrective Actions (P0/P1):**\n"
            + "\n".join(f"{i}. [ ] {plain(a)}" for i, a in enumerate(actions, 1))
        )
