"""The investigation panel: run, re-run and monitor hypotheses from JupyterLab.

One row per hypothesis (verdict badge, summary, time of the last run, a Run button
and a toggle for its evidence), "Re-run all", a monitoring switch that re-runs every
N seconds, a status selector, and "Save to archive". Probes run in a worker thread
and the widgets are updated on the kernel's event loop, so the kernel stays free
while a probe waits on a slow target.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from html import escape
from pathlib import Path
from typing import Any, Protocol

import ipywidgets as widgets

from incident_lab.investigation.params import STATUSES
from incident_lab.investigation.state import Investigation
from incident_lab.render import figures
from incident_lab.render.html import badge, pill, result_html
from incident_lab.result import Result

RUNNING = pill("Running", "#1565c0")
DEFAULT_EVERY_SECONDS = 30


class SavedRun(Protocol):
    completed: bool

    @property
    def report(self) -> Path: ...


def css_name(probe_id: str) -> str:
    return probe_id.replace(".", "-")


class HypothesisRow:
    def __init__(self, panel: InvestigationPanel, index: int) -> None:
        hypothesis = panel.investigation.params.hypotheses[index]
        self.index = index
        self.registry = panel.investigation.registry
        self.badge = widgets.HTML(RUNNING)
        self.summary = widgets.HTML(layout=widgets.Layout(width="45%"))
        self.when = widgets.Label("not run", layout=widgets.Layout(width="110px"))
        self.run_button = widgets.Button(description="Run", icon="play", layout=widgets.Layout(width="80px"))
        self.run_button.add_class(f"il-run-{css_name(hypothesis.probe)}")
        self.badge.add_class(f"il-badge-{css_name(hypothesis.probe)}")
        self.toggle = widgets.ToggleButton(description="Evidence", layout=widgets.Layout(width="100px"))
        self.details = widgets.Output(layout=widgets.Layout(display="none"))
        self.run_button.on_click(lambda _: panel.schedule(panel.rerun(index)))
        self.toggle.observe(self._toggled, names="value")
        title = widgets.HTML(
            f"<strong>{escape(hypothesis.title)}</strong>", layout=widgets.Layout(width="25%")
        )
        line = widgets.HBox([self.badge, title, self.summary, self.when, self.run_button, self.toggle])
        self.widget = widgets.VBox([line, self.details])

    def _toggled(self, change: dict[str, Any]) -> None:
        self.details.layout.display = "block" if change["new"] else "none"

    def running(self) -> None:
        self.badge.value = RUNNING

    def show(self, result: Result) -> None:
        from IPython.display import HTML, Image, display

        self.badge.value = badge(result.verdict)
        self.summary.value = escape(result.summary)
        self.when.value = result.started_at[11:19] + " UTC"
        self.details.clear_output()
        with self.details:
            display(HTML(result_html(result)))
            picture = figures.result_picture(result, self.registry, "chart")
            if picture is not None:
                display(Image(data=picture[1]))


class InvestigationPanel:
    """Widgets over an `Investigation`; every action also works without a front end.
    `save` archives the investigation as it stands (the panel knows no archive)."""

    def __init__(self, investigation: Investigation, save: Callable[[], SavedRun]) -> None:
        self.investigation = investigation
        self._save = save
        self.rows = [HypothesisRow(self, index) for index in range(len(investigation.params.hypotheses))]
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
        self.save_button = widgets.Button(description="Save to archive", icon="save")
        self.message = widgets.HTML()
        self.timeline = widgets.HTML()
        self.rerun_all_button.on_click(lambda _: self.schedule(self.rerun_all()))
        self.save_button.on_click(lambda _: self.schedule(self.save()))
        self.monitoring.observe(self._monitoring_changed, names="value")
        self.status.observe(lambda change: self.set_status(change["new"]), names="value")
        self._monitor_task: asyncio.Task[None] | None = None
        self.widget = widgets.VBox(
            [
                widgets.HBox(
                    [self.rerun_all_button, self.monitoring, self.every, self.status, self.save_button]
                ),
                *(row.widget for row in self.rows),
                self.message,
                self.timeline,
            ]
        )
        for row, result in zip(self.rows, investigation.results, strict=False):
            row.show(result)
        self.show_timeline()

    @staticmethod
    def schedule(action: Awaitable[Any]) -> asyncio.Task[Any]:
        return asyncio.ensure_future(action)

    async def _in_worker(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, function, *args)

    async def rerun(self, index: int) -> Result:
        self.rows[index].running()
        result = await self._in_worker(self.investigation.run_hypothesis, index)
        self.investigation.record(index, result)
        self.rows[index].show(result)
        self.show_timeline()
        return result

    async def rerun_all(self, label: str = "re-run all") -> list[Result]:
        for row in self.rows:
            row.running()
        count = len(self.rows)
        results = list(
            await asyncio.gather(
                *(self._in_worker(self.investigation.run_hypothesis, i) for i in range(count))
            )
        )
        self.investigation.record_all(results, label)
        for row, result in zip(self.rows, results, strict=True):
            row.show(result)
        self.show_timeline()
        return results

    def set_status(self, status: str) -> None:
        self.investigation.set_status(status)
        self.show_timeline()

    async def monitor(self) -> None:
        """Re-run every hypothesis every `every` seconds until the switch is turned off."""
        round_number = 0
        while self.monitoring.value:
            round_number += 1
            await self.rerun_all(f"monitoring round {round_number}")
            await asyncio.sleep(self.every.value)

    def _monitoring_changed(self, change: dict[str, Any]) -> None:
        if change["new"] and self._monitor_task is None:
            self._monitor_task = self.schedule(self.monitor())
        elif not change["new"] and self._monitor_task is not None:
            self._monitor_task.cancel()
            self._monitor_task = None

    async def save(self) -> None:
        self.message.value = "Saving to the archive…"
        try:
            outcome = await self._in_worker(self._save)
        except Exception as error:  # shown in the panel; the investigation goes on
            self.message.value = f"<strong>Could not save:</strong> {escape(str(error))}"
            return
        state = "saved" if outcome.completed else "saved, marked failed"
        self.message.value = f"{state}: <code>{escape(str(outcome.report))}</code>"

    def show_timeline(self) -> None:
        entries = self.investigation.with_current().timeline()
        items = "".join(f"<li><code>{e.at[11:19]} UTC</code> {escape(e.text)}</li>" for e in entries[-15:])
        self.timeline.value = f"<strong>Timeline</strong><ul>{items}</ul>"

    def close(self) -> None:
        if self._monitor_task is not None:
            with contextlib.suppress(Exception):
                self._monitor_task.cancel()
        self.widget.close()
