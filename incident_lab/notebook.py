"""What the template notebook calls: a few lines per cell.

`InvestigationNotebook.open(...)` takes the notebook's parameters and gives the
investigation (state, see `incident_lab.investigation.state`) with the means to show
it: each section method displays one part of the incident template (rendered by
`incident_lab.render.sections`), `panel()` the live widgets, and `save_to_archive()`
renders the current state by papermill into a new archived run.

Interactive (in JupyterLab), every section is shown in a view that is redrawn when the
investigation changes, whichever route changed it (the panel, a monitoring round, a
cell calling `add_hypothesis` or `query`), so that nothing on screen disagrees with the
latest result. The views are rendered in a thread of their own: their charts take
seconds once an incident has many rounds, and the kernel's event loop, on which the
panel's buttons and monitoring rounds run, must never wait for them. Under papermill
the sections are plain outputs. Every result is shown
with its JSON under the result MIME type, so that `read_results(path)` reads any
executed notebook back.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from incident_lab.archive.store import load_history
from incident_lab.investigation.notebook_format import CHART_METADATA, MIME_TYPE, Recorded, read_results
from incident_lab.investigation.params import resolve
from incident_lab.investigation.state import Change, Investigation
from incident_lab.probe import Probe, recorded_probe
from incident_lab.registry import Registry, load_registry
from incident_lab.render import sections
from incident_lab.render.html import query_html, result_html
from incident_lab.render.text import format_result
from incident_lab.result import QueryRecord, Result
from incident_lab.runner import default_registry

if TYPE_CHECKING:
    import ipywidgets

    from incident_lab.archive.execute import RunOutcome
    from incident_lab.render.panel import InvestigationPanel

__all__ = ["InvestigationNotebook", "read_results"]

RECORDED_SOURCE = "recorded with the results"
# Views are redrawn once the changes of a moment have arrived, not once per change.
REFRESH_DELAY_SECONDS = 0.3

Section = Callable[[Investigation], list[sections.Output]]


def result_bundle(result: Result) -> dict[str, Any]:
    """A result as notebook output data: text, HTML, and its JSON (what `read_results` reads)."""
    return {
        "text/plain": format_result(result),
        "text/html": result_html(result),
        MIME_TYPE: result.to_dict(),
    }


def output_data(output: sections.Output) -> tuple[dict[str, Any], dict[str, Any]]:
    """One section output as notebook output data and metadata."""
    if isinstance(output, sections.Markdown):
        return {"text/markdown": output.text, "text/plain": output.text}, {}
    if isinstance(output, sections.Html):
        return {"text/html": output.text, "text/plain": "(HTML)"}, {}
    if isinstance(output, sections.ResultOutput):
        return result_bundle(output.result), {}
    stem, data = output.picture
    return {"image/png": base64.b64encode(data).decode(), "text/plain": stem}, {CHART_METADATA: stem}


def show(outputs: Sequence[sections.Output]) -> None:
    """Display section outputs in the notebook, as plain outputs."""
    from IPython.display import display

    for output in outputs:
        data, metadata = output_data(output)
        display(data, raw=True, metadata=metadata)


def with_recorded_probes(registry: Registry, recorded: Recorded) -> Registry:
    """The registry, knowing also the recorded probes it lacks (defined in the notebook that
    recorded them): their results render, though they cannot run here."""
    missing = [d for d in recorded.probes if d["id"] not in registry]
    if not missing:
        return registry
    extended = registry.copy()
    for description in missing:
        extended.add(recorded_probe(description), RECORDED_SOURCE)
    return extended


class InvestigationNotebook:
    """The investigation as the template notebook shows it."""

    def __init__(
        self,
        investigation: Investigation,
        *,
        archive_dir: str = "",
        recorded: Recorded | None = None,
        interactive: bool = False,
    ) -> None:
        self.investigation = investigation
        self.archive_dir = archive_dir
        self.recorded = recorded
        self.interactive = interactive
        self._views: list[tuple[Section, ipywidgets.Output]] = []
        self._refresh_due = False
        self._redrawing: asyncio.Task[None] | None = None
        self._renderer: ThreadPoolExecutor | None = None
        self._cost: dict[int, float] = {}  # seconds each view (by its place) last took to draw
        self._loop: asyncio.AbstractEventLoop | None = None
        if interactive:
            self._loop = asyncio.get_event_loop()
            investigation.on_change(self._changed)

    @classmethod
    def open(
        cls,
        *,
        history_dir: str = "",
        archive_dir: str = "",
        recorded: str = "",
        interactive: bool = False,
        probe_path: Sequence[str] = (),
        registry: Registry | None = None,
        **values: Any,
    ) -> InvestigationNotebook:
        """The investigation described by the notebook's parameters; `recorded` names a file
        of results already taken (by `watch` or the panel) to show instead of probing again;
        `probe_path` names folders of the team's probes, as `--probe-path` does."""
        chosen = registry or (load_registry(probe_path) if probe_path else default_registry())
        taken = Recorded.load(recorded) if recorded else None
        if taken is not None:
            chosen = with_recorded_probes(chosen, taken)
        investigation = Investigation(resolve(values, chosen), load_history(history_dir), chosen)
        return cls(investigation, archive_dir=archive_dir, recorded=taken, interactive=interactive)

    def run(self) -> list[Result]:
        """Test every hypothesis, or take the recorded results when there are some."""
        if self.recorded is not None:
            recorded = self.recorded
            self.investigation.take(recorded.latest, recorded.rounds, recorded.queries)
            return self.investigation.results
        return self.investigation.run()

    # Changing the investigation from a cell

    def add_hypothesis(
        self, title: str, probe: str | Probe, *, target: str = "", params: Mapping[str, Any] | None = None
    ) -> int:
        """Add a hypothesis mid-incident; see `Investigation.add_hypothesis`."""
        return self.investigation.add_hypothesis(title, probe, target=target, params=params)

    def query(
        self,
        target: str,
        statement: str,
        params: Mapping[str, Any] | None = None,
        *,
        title: str = "",
        hypothesis: str = "",
    ) -> QueryRecord:
        """Run one read-only statement, show its rows and keep it as evidence."""
        from IPython.display import HTML, display

        record = self.investigation.query(target, statement, params, title=title, hypothesis=hypothesis)
        display(HTML(query_html(record)))
        return record

    # Saving and the panel

    def save_to_archive(self) -> RunOutcome:
        """Archive the current state as a new run of this incident, rendered by papermill from
        the recorded results (so that it needs no probe to run again)."""
        from incident_lab.archive.execute import run_investigation
        from incident_lab.archive.remote import open_archive

        state = self.investigation
        return run_investigation(
            state.params.notebook_parameters(),
            open_archive(self.archive_dir or None),
            progress=False,
            registry=state.registry,
            recorded=Recorded.of(state),
        )

    def panel(self, interactive: bool = True) -> InvestigationPanel | None:
        """Show the interactive panel in JupyterLab; under papermill (not interactive), nothing."""
        if not interactive:
            return None
        from IPython.display import display

        from incident_lab.render.panel import InvestigationPanel

        shown = InvestigationPanel(self.investigation, self.save_to_archive)
        display(shown.widget)
        return shown

    # The template's sections

    def _section(self, render: Section) -> None:
        if not self.interactive:
            show(render(self.investigation))
            return
        import ipywidgets
        from IPython.display import display

        view = ipywidgets.Output()
        started = time.perf_counter()
        view.outputs = self._render(render)
        self._cost[len(self._views)] = time.perf_counter() - started
        display(view)
        self._views.append((render, view))

    def _render(self, render: Section) -> tuple[dict[str, Any], ...]:
        # Setting the outputs (rather than printing into the view) works from any callback
        # and replaces what was there, in the front end and in the kernel alike.
        drawn = []
        for output in render(self.investigation):
            data, metadata = output_data(output)
            drawn.append({"output_type": "display_data", "data": data, "metadata": metadata})
        return tuple(drawn)

    def _changed(self, change: Change) -> None:
        if self._loop is None or not self._views:
            return
        self._refresh_due = True
        self._loop.call_soon_threadsafe(self._schedule_redraw)

    def _schedule_redraw(self) -> None:
        if self._redrawing is None or self._redrawing.done():
            self._redrawing = asyncio.ensure_future(self._redraw())

    async def _redraw(self) -> None:
        """Redraw the views once the changes of a moment have arrived, one redraw at a time,
        and again for the changes made while one was drawn. The drawing is done off the
        event loop; each view is set, on the loop, as soon as it is drawn."""
        loop = asyncio.get_running_loop()
        if self._renderer is None:
            self._renderer = ThreadPoolExecutor(1, thread_name_prefix="incident_lab_views")
        while self._refresh_due:
            await asyncio.sleep(REFRESH_DELAY_SECONDS)
            self._refresh_due = False
            await loop.run_in_executor(self._renderer, self._render_views, list(self._views), loop)

    def _render_views(
        self, views: list[tuple[Section, ipywidgets.Output]], loop: asyncio.AbstractEventLoop
    ) -> None:
        # The quickest first (by their last redraw): the header, summary and timeline must not
        # wait for a chart of every metric over every round.
        for index in sorted(range(len(views)), key=lambda i: self._cost.get(i, 0.0)):
            render, view = views[index]
            started = time.perf_counter()
            try:
                outputs = self._render(render)
            except Exception as error:  # one section failing must not keep the others stale
                outputs = ({"output_type": "stream", "name": "stderr", "text": f"not redrawn: {error!r}\n"},)
            self._cost[index] = time.perf_counter() - started
            loop.call_soon_threadsafe(setattr, view, "outputs", outputs)

    def header(self) -> None:
        self._section(sections.header)

    def summary(self) -> None:
        self._section(sections.summary)

    def immediate_actions(self) -> None:
        self._section(sections.immediate_actions)

    def symptoms(self) -> None:
        self._section(sections.symptoms)

    def timeline(self) -> None:
        self._section(sections.timeline)

    def overview(self) -> None:
        self._section(sections.overview)

    def fleet(self) -> None:
        self._section(sections.fleet)

    def hypotheses(self) -> None:
        self._section(sections.hypotheses)

    def metrics_over_time(self) -> None:
        self._section(sections.metrics_over_time)

    def resolution(self) -> None:
        self._section(sections.resolution)

    def review(self) -> None:
        self._section(sections.review)
