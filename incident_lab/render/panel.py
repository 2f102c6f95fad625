"""The investigation panel: run, re-run, monitor, add and change hypotheses from JupyterLab.

One row per hypothesis (verdict badge, summary, time of the last run, a mark while its
probe runs, a Run button, its Evidence, and its parameters to edit and re-run),
"Re-run all", a monitoring switch that starts a round every N seconds, a status
selector, "+ Hypothesis" (a probe from the catalogue, one of the incident's targets,
and the probe's parameters as fields), "Save to archive", the failure patterns the
results match, and the timeline.

The panel never holds results of its own: every row is drawn from the investigation's
latest result whenever the investigation says it changed, whichever route changed it
(a button here, a monitoring round, a cell calling the API), so that badge, summary,
time and evidence always come from the same result. Probes run in worker threads and
results are recorded on the kernel's event loop, so the kernel stays free while a
probe waits on a slow target; each row is drawn as soon as its own probe answers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path
from typing import Any, Protocol

import ipywidgets as widgets

from incident_lab.exceptions import UsageError
from incident_lab.investigation.history import Round, clock, hypothesis_key
from incident_lab.investigation.matching import investigation_matches
from incident_lab.investigation.params import STATUSES
from incident_lab.investigation.state import Change, Investigation
from incident_lab.kinds import target_spec
from incident_lab.probe import BUDGET_PARAM, Param, Probe
from incident_lab.render import figures, sections
from incident_lab.render.html import badge, pill, result_html
from incident_lab.render.patterns import patterns_html
from incident_lab.result import Result
from incident_lab.verdict import Verdict
from incident_lab.wording import hypothesis_letter

RUNNING = '<span class="il-running" style="color:#1565c0;font-size:smaller">● running</span>'
NOT_RUN = pill("not run", "#9e9e9e")
DEFAULT_EVERY_SECONDS = 30
# An HTML widget lays text out as a label (28 px lines) in a box that clips: the evidence
# pane reads as a document instead, a wide table scrolls, and its cells keep to one line
# but for the last (a blocking tree's query), which wraps at a width that can be read.
EVIDENCE_STYLE = (
    "<style>.il-evidence-pane{line-height:1.4;overflow-x:auto;padding:4px 0}"
    ".il-evidence-pane .il-table{border-collapse:collapse;font-size:12px;margin-bottom:8px}"
    ".il-evidence-pane .il-table th,.il-evidence-pane .il-table td{padding:2px 8px;text-align:left;"
    "vertical-align:top;white-space:nowrap;border-bottom:1px solid #e0e0e0}"
    ".il-evidence-pane .il-table td:last-child{white-space:normal;min-width:28em}"
    ".il-evidence-pane pre{white-space:pre-wrap;font-size:11px}</style>"
)
TIMELINE_RUNS_SHOWN = 10


class SavedRun(Protocol):
    completed: bool
    error: str | None

    @property
    def report(self) -> Path: ...


def fixed(width: str) -> widgets.Layout:
    """A layout that keeps its width in a row, rather than shrink until its label is cut."""
    return widgets.Layout(width=width, flex="0 0 auto")


def css_name(probe_id: str) -> str:
    return probe_id.replace(".", "-")


def param_field(param: Param, value: Any) -> widgets.Widget:
    """An input for one probe parameter, showing its value and, on hover, its meaning."""
    style = {"description_width": "initial"}
    common: dict[str, Any] = {"description": param.name, "tooltip": param.doc, "style": style}
    field: widgets.Widget
    if param.type is bool:
        field = widgets.Checkbox(value=bool(value), indent=False, **common)
    elif param.one_of is not None:
        field = widgets.Dropdown(options=param.one_of.choices, value=value, **common)
    elif param.type is list:
        field = widgets.Text(value=", ".join(value), **common)
    else:
        # Numbers as text: the probe's own coercion and bounds check them, with its messages.
        field = widgets.Text(value="" if value is None else str(value), **common)
    field.add_class(f"il-param-{param.name}")
    return field


class ParamForm:
    """Fields for a probe's parameters; `values()` gives them as typed, to be checked by the probe."""

    def __init__(self, probe: Probe, given: dict[str, Any]) -> None:
        self.probe = probe
        self.fields = {
            p.name: param_field(p, given.get(p.name, p.default))
            for p in probe.params
            if p.name != BUDGET_PARAM
        }
        self.widget = widgets.VBox(list(self.fields.values()))

    def values(self) -> dict[str, Any]:
        return {name: field.value for name, field in self.fields.items()}


class HypothesisRow:
    def __init__(self, panel: InvestigationPanel, index: int) -> None:
        hypothesis = panel.investigation.hypotheses[index]
        self.panel = panel
        self.index = index
        self.badge = widgets.HTML(NOT_RUN, layout=widgets.Layout(flex="0 0 auto"))
        # The title and summary share what the fixed-width time, mark and buttons leave.
        self.summary = widgets.HTML(layout=widgets.Layout(flex="2 1 0%"))
        self.when = widgets.Label("not run", layout=fixed("110px"))
        self.running = widgets.HTML("", layout=fixed("75px"))
        self.run_button = widgets.Button(description="Run", icon="play", layout=fixed("70px"))
        self.toggle = widgets.ToggleButton(description="Evidence", layout=fixed("95px"))
        self.edit = widgets.ToggleButton(description="Parameters", layout=fixed("110px"))
        self.evidence = widgets.HTML(layout=widgets.Layout(display="none"))
        self.form = ParamForm(panel.investigation.registry.get(hypothesis.probe), hypothesis.params)
        self.apply = widgets.Button(description="Apply and run", icon="check")
        self.form_message = widgets.HTML()
        self.editor = widgets.VBox(
            [self.form.widget, widgets.HBox([self.apply, self.form_message])],
            layout=widgets.Layout(display="none"),
        )
        letter = hypothesis_letter(index).lower()
        self.widget = widgets.VBox()
        roles = {
            "row": self.widget,
            "apply": self.apply,
            "run": self.run_button,
            "badge": self.badge,
            "evidence": self.evidence,
            "evidence-toggle": self.toggle,
            "params-toggle": self.edit,
            "running": self.running,
            "summary": self.summary,
        }
        for role, widget in roles.items():
            widget.add_class(f"il-{role}-{css_name(hypothesis.probe)}")
            widget.add_class(f"il-{role}-{letter}")
        self.run_button.on_click(lambda _: panel.start(self.index))
        self.apply.on_click(lambda _: self._apply())
        self.toggle.observe(self._toggled, names="value")
        self.edit.observe(lambda change: self._show(self.editor, change["new"]), names="value")
        title = widgets.HTML(
            f"<strong>{hypothesis_letter(index)}. {escape(hypothesis.title)}</strong>",
            layout=widgets.Layout(flex="1 1 0%"),
        )
        line = widgets.HBox(
            [
                self.badge,
                title,
                self.summary,
                self.when,
                self.running,
                self.run_button,
                self.toggle,
                self.edit,
            ]
        )
        self.widget.children = [line, self.editor, self.evidence]
        self._evidence_stale = True

    @staticmethod
    def _show(widget: widgets.Widget, shown: bool) -> None:
        widget.layout.display = "block" if shown else "none"

    def _toggled(self, change: dict[str, Any]) -> None:
        if change["new"] and self._evidence_stale:
            self._draw_evidence()
        self._show(self.evidence, change["new"])

    def set_running(self, running: bool) -> None:
        self.running.value = RUNNING if running else ""

    def show(self) -> None:
        """Draw the row from its hypothesis's latest result: badge, summary, time and
        evidence all from that one result."""
        result = self.panel.investigation.latest(self.index)
        if result is None:
            return
        self.badge.value = badge(result.verdict)
        self.summary.value = escape(result.summary)
        self.when.value = result.started_at[11:19] + " UTC"
        self._evidence_stale = True
        if self.toggle.value:
            self._draw_evidence()

    def _draw_evidence(self) -> None:
        # Drawn only when shown: a chart costs more than the badge, which must change at once.
        result = self.panel.investigation.latest(self.index)
        self._evidence_stale = False
        self.evidence.value = evidence_html(self.panel.investigation, result) if result is not None else ""

    def _apply(self) -> None:
        try:
            self.panel.investigation.change_params(self.index, self.form.values())
        except UsageError as error:
            self.form_message.value = f'<span style="color:#c62828">{escape(str(error))}</span>'
            return
        self.form_message.value = ""
        self.panel.start(self.index)


def evidence_html(investigation: Investigation, result: Result) -> str:
    """A result's evidence and chart, and nothing but that result's: when it no longer
    confirms the hypothesis, when it last did is said in words (the report keeps that
    evidence), so that the pane never shows an old blocking tree under a new badge."""
    parts = []
    confirmed = investigation.with_current().confirmations().get(hypothesis_key(result))
    if confirmed is not None and result.verdict is not Verdict.TRUE:
        cleared = f", cleared at {clock(confirmed.cleared_at)}" if confirmed.cleared_at else ""
        parts.append(f"<p><em>Confirmed earlier: at {clock(confirmed.result.started_at)}{cleared}.</em></p>")
    parts.append(result_html(result))
    picture = figures.result_picture(result, investigation.registry, "chart")
    if picture is not None:
        parts.append(f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(picture[1]).decode()}">')
    return f'<div class="il-evidence-pane">{EVIDENCE_STYLE}{"".join(parts)}</div>'


class HypothesisForm:
    """ "+ Hypothesis": a probe from the catalogue, a target of the incident's, a title, and the
    probe's parameters, checked before anything runs."""

    def __init__(self, panel: InvestigationPanel) -> None:
        self.panel = panel
        registry = panel.investigation.registry
        self.probe = widgets.Dropdown(
            options=[(f"{p.id} — {p.hypothesis}", p.id) for p in registry],
            description="Probe",
            layout=widgets.Layout(width="70%"),
        )
        self.target = widgets.Dropdown(description="Target")
        self.title = widgets.Text(description="Title", layout=widgets.Layout(width="70%"))
        self.params = widgets.VBox()
        self.add = widgets.Button(description="Add and run", icon="plus")
        self.message = widgets.HTML()
        roles = (
            (self.probe, "probe"),
            (self.target, "target"),
            (self.title, "title"),
            (self.params, "params"),
        )
        for widget, role in roles:
            widget.add_class(f"il-form-{role}")
        self.add.add_class("il-add-hypothesis")
        self.message.add_class("il-form-message")
        self.probe.observe(lambda _: self._probe_chosen(), names="value")
        self.add.on_click(lambda _: self._add())
        self.widget = widgets.VBox(
            [self.probe, self.target, self.title, self.params, widgets.HBox([self.add, self.message])]
        )
        self._form: ParamForm | None = None
        self._probe_chosen()

    def _probe_chosen(self) -> None:
        registry = self.panel.investigation.registry
        if self.probe.value is None:
            return
        chosen = registry.get(self.probe.value)
        kinds = registry.kind_names
        targets = self.panel.investigation.params.targets
        fitting = [
            name
            for name, written in targets.items()
            if target_spec(name, written, kinds).kind in (chosen.target_kind, "")
        ]
        self.target.options = fitting
        self.title.placeholder = chosen.hypothesis
        self._form = ParamForm(chosen, {})
        self.params.children = [self._form.widget]

    def _add(self) -> None:
        if self._form is None or self.probe.value is None:
            return
        chosen = self.panel.investigation.registry.get(self.probe.value)
        defaults = {p.name: p.default for p in chosen.params}
        given = {name: value for name, value in self._form.values().items() if value != defaults.get(name)}
        try:
            index = self.panel.investigation.add_hypothesis(
                self.title.value.strip(), self.probe.value, target=self.target.value or "", params=given
            )
        except UsageError as error:
            self.message.value = f'<span style="color:#c62828">{escape(str(error))}</span>'
            return
        self.message.value = f"added as hypothesis {hypothesis_letter(index)}"
        self.title.value = ""
        self.panel.start(index)


class InvestigationPanel:
    """Widgets over an `Investigation`; every action also works without a front end.
    `save` archives the investigation as it stands (the panel knows no archive)."""

    def __init__(self, investigation: Investigation, save: Callable[[], SavedRun]) -> None:
        self.investigation = investigation
        self._save = save
        workers = investigation.params.concurrency
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="incident_lab_panel")
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._monitor_task: asyncio.Task[None] | None = None
        self.rows: list[HypothesisRow] = []
        self.rerun_all_button = widgets.Button(description="Re-run all", icon="refresh")
        self.monitoring = widgets.ToggleButton(description="Monitor", icon="eye", value=False)
        self.every = widgets.BoundedIntText(
            value=DEFAULT_EVERY_SECONDS,
            min=1,
            max=3600,
            description="every (s)",
            layout=widgets.Layout(width="160px"),
        )
        self.status = widgets.Dropdown(
            options=STATUSES, value=investigation.params.status, description="Status"
        )
        self.save_button = widgets.Button(description="Save to archive", icon="save", layout=fixed("auto"))
        self.add_toggle = widgets.ToggleButton(description="+ Hypothesis", layout=fixed("auto"))
        self.form = HypothesisForm(self)
        self.form.widget.layout.display = "none"
        self.message = widgets.HTML()
        self.timeline = widgets.HTML()
        self.fleet = widgets.HTML()
        self.patterns = widgets.HTML()
        self.rows_box = widgets.VBox()
        self.rerun_all_button.on_click(lambda _: self.rerun_all())
        self.save_button.on_click(lambda _: self.schedule(self.save()))
        self.monitoring.observe(self._monitoring_changed, names="value")
        self.status.observe(lambda change: self.investigation.set_status(change["new"]), names="value")
        self.add_toggle.observe(
            lambda change: setattr(self.form.widget.layout, "display", "block" if change["new"] else "none"),
            names="value",
        )
        for widget, role in (
            (self.add_toggle, "add-toggle"),
            (self.monitoring, "monitor"),
            (self.every, "every"),
            (self.status, "status"),
            (self.save_button, "save"),
            (self.rerun_all_button, "rerun-all"),
            (self.message, "message"),
            (self.timeline, "timeline"),
            (self.fleet, "fleet"),
            (self.patterns, "pattern-matches"),
        ):
            widget.add_class(f"il-{role}")
        self.widget = widgets.VBox(
            [
                widgets.HBox(
                    [
                        self.rerun_all_button,
                        self.monitoring,
                        self.every,
                        self.status,
                        self.add_toggle,
                        self.save_button,
                    ]
                ),
                self.fleet,
                self.rows_box,
                self.form.widget,
                self.message,
                self.patterns,
                self.timeline,
            ]
        )
        for index in range(len(investigation.hypotheses)):
            self._add_row(index)
        investigation.on_change(self._changed)
        self.show_timeline()
        self.show_fleet()
        self.show_patterns()

    @staticmethod
    def schedule(action: Any) -> asyncio.Task[Any]:
        return asyncio.ensure_future(action)

    def _add_row(self, index: int) -> None:
        row = HypothesisRow(self, index)
        self.rows.append(row)
        self.rows_box.children = [*self.rows_box.children, row.widget]
        row.show()

    def _changed(self, change: Change) -> None:
        if change.what == "hypothesis" and change.index is not None:
            self._add_row(change.index)
        elif change.what == "result" and change.index is not None:
            self.rows[change.index].show()
        elif change.what == "all":
            for row in self.rows:
                row.show()
        elif change.what == "status" and self.status.value != self.investigation.params.status:
            self.status.value = self.investigation.params.status
        self.show_timeline()
        if change.what in ("result", "all", "hypothesis"):
            self.show_fleet()
            self.show_patterns()

    # Running

    def start(self, index: int, round_: Round | None = None) -> asyncio.Task[None] | None:
        """Run hypothesis `index`'s probe (recorded in `round_`, or as a re-run of its own),
        unless it is running already; its row is marked while it runs, and only then."""
        if index in self._in_flight:
            return None
        task = asyncio.ensure_future(self._run_row(index, round_))
        self._in_flight[index] = task
        return task

    async def _run_row(self, index: int, round_: Round | None) -> None:
        row = self.rows[index]
        row.set_running(True)
        try:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._pool, self.investigation.run_hypothesis, index)
            self.investigation.record(index, result, round_)
        finally:
            row.set_running(False)
            self._in_flight.pop(index, None)

    async def rerun(self, index: int) -> Result | None:
        """Run one hypothesis now and wait for its result."""
        task = self.start(index) or self._in_flight.get(index)
        if task is not None:
            await asyncio.shield(task)
        return self.investigation.latest(index)

    def rerun_all(self, label: str = "re-run all") -> list[asyncio.Task[None]]:
        """Start every hypothesis not already running, as one round."""
        round_ = self.investigation.begin_round(label)
        return [task for index in range(len(self.rows)) if (task := self.start(index, round_)) is not None]

    async def monitor(self) -> None:
        """A round every `every` seconds, start to start, until the switch is turned off; a
        probe still running when its next round is due is not started twice."""
        loop = asyncio.get_running_loop()
        number = 0
        while self.monitoring.value:
            number += 1
            started = loop.time()
            self.rerun_all(f"monitoring round {number}")
            await asyncio.sleep(max(0.0, started + self.every.value - loop.time()))

    def _monitoring_changed(self, change: dict[str, Any]) -> None:
        if change["new"] and self._monitor_task is None:
            self._monitor_task = self.schedule(self.monitor())
        elif not change["new"] and self._monitor_task is not None:
            # Only the schedule stops: probes already running finish and are recorded.
            self._monitor_task.cancel()
            self._monitor_task = None

    async def wait_for_probes(self) -> None:
        """Until no probe started from the panel is running."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)

    # Saving and the timeline

    async def save(self) -> None:
        self.message.value = "Saving to the archive…"
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(self._pool, self._save)
        except Exception as error:  # shown in the panel; the investigation goes on
            self.message.value = f"<strong>Could not save:</strong> {escape(str(error))}"
            return
        if outcome.completed:
            self.message.value = f"saved: <code>{escape(str(outcome.report))}</code>"
        else:
            reason = escape((outcome.error or "unknown").splitlines()[0])
            where = escape(str(outcome.report))
            self.message.value = f"<strong>Saved, marked failed:</strong> {reason} (<code>{where}</code>)"

    def show_fleet(self) -> None:
        """The fleet matrix, where a hypothesis runs on several targets: the odd ones out named,
        each cell a link to that target's hypothesis in the notebook below."""
        self.fleet.value = "".join(
            output.text for output in sections.fleet(self.investigation) if isinstance(output, sections.Html)
        )

    def show_patterns(self) -> None:
        """The failure patterns the latest results match (or matched earlier, or rule out),
        each with its evidence, drawn from the same results as the rows."""
        self.patterns.value = patterns_html(investigation_matches(self.investigation))

    def show_timeline(self) -> None:
        """The verdict changes, clearings, status changes and other events first (all of
        them, newest first), then the latest probe rounds."""
        entries = self.investigation.with_current().timeline()
        events = [e for e in entries if e.kind != "run"]
        runs = [e for e in entries if e.kind == "run"][-TIMELINE_RUNS_SHOWN:]

        def items(chosen: list[Any]) -> str:
            return "".join(
                f"<li><code>{e.at[11:19]} UTC</code> {escape(e.text)}</li>" for e in reversed(chosen)
            )

        self.timeline.value = (
            f"<strong>Timeline</strong><ul>{items(events) or '<li>no changes yet</li>'}</ul>"
            f"<details><summary>latest rounds</summary><ul>{items(runs)}</ul></details>"
        )

    def close(self) -> None:
        if self._monitor_task is not None:
            with contextlib.suppress(Exception):
                self._monitor_task.cancel()
        self._pool.shutdown(wait=False)
        self.widget.close()
