"""What the template notebook calls: a few lines per cell.

`InvestigationNotebook.open(...)` takes the notebook's parameters and gives the
investigation (state, see `incident_lab.investigation.state`) with the means to show
it: each section method displays one part of the incident template (rendered by
`incident_lab.render.sections`), `panel()` the live widgets, and `save_to_archive()`
renders the current state by papermill into a new archived run. Every result is
displayed with its JSON under the result MIME type, next to HTML and text, so that
`read_results(path)` can read any executed notebook back.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from incident_lab.archive.store import load_history
from incident_lab.investigation.notebook_format import CHART_METADATA, MIME_TYPE, Recorded, read_results
from incident_lab.investigation.params import resolve
from incident_lab.investigation.state import Investigation
from incident_lab.registry import Registry
from incident_lab.render import sections
from incident_lab.render.html import result_html
from incident_lab.render.text import format_result
from incident_lab.result import Result
from incident_lab.runner import default_registry

if TYPE_CHECKING:
    from incident_lab.archive.execute import RunOutcome
    from incident_lab.render.panel import InvestigationPanel

__all__ = ["InvestigationNotebook", "read_results"]


def _display(*objects: Any, **kwargs: Any) -> None:
    from IPython.display import display

    display(*objects, **kwargs)


def result_bundle(result: Result) -> dict[str, Any]:
    """A result as notebook output data: text, HTML, and its JSON (what `read_results` reads)."""
    return {
        "text/plain": format_result(result),
        "text/html": result_html(result),
        MIME_TYPE: result.to_dict(),
    }


def show(outputs: list[sections.Output]) -> None:
    """Display a section's outputs in the notebook."""
    from IPython.display import HTML, Markdown

    for output in outputs:
        if isinstance(output, sections.Markdown):
            _display(Markdown(output.text))
        elif isinstance(output, sections.Html):
            _display(HTML(output.text))
        elif isinstance(output, sections.ResultOutput):
            _display(result_bundle(output.result), raw=True)
        else:
            stem, data = output.picture
            _display(
                {"image/png": base64.b64encode(data).decode()}, raw=True, metadata={CHART_METADATA: stem}
            )


class InvestigationNotebook:
    """The investigation as the template notebook shows it."""

    def __init__(
        self, investigation: Investigation, *, archive_dir: str = "", recorded: Recorded | None = None
    ):
        self.investigation = investigation
        self.archive_dir = archive_dir
        self.recorded = recorded

    @classmethod
    def open(
        cls,
        *,
        history_dir: str = "",
        archive_dir: str = "",
        recorded: str = "",
        registry: Registry | None = None,
        **values: Any,
    ) -> InvestigationNotebook:
        """The investigation described by the notebook's parameters; `recorded` names a file
        of results already taken (by `watch` or the panel) to show instead of probing again."""
        chosen = registry or default_registry()
        investigation = Investigation(resolve(values, chosen), load_history(history_dir), chosen)
        return cls(
            investigation, archive_dir=archive_dir, recorded=Recorded.load(recorded) if recorded else None
        )

    def run(self) -> list[Result]:
        """Test every hypothesis, or take the recorded results when there are some."""
        if self.recorded is not None:
            self.investigation.take(self.recorded.results, self.recorded.rounds)
            return self.investigation.results
        return self.investigation.run()

    def save_to_archive(self) -> RunOutcome:
        """Archive the current state as a new run of this incident, rendered by papermill."""
        from incident_lab.archive.execute import run_investigation
        from incident_lab.archive.remote import open_archive

        state = self.investigation
        return run_investigation(
            state.params.notebook_parameters(),
            open_archive(self.archive_dir or None),
            progress=False,
            registry=state.registry,
            recorded=Recorded(list(state.results), list(state.rounds)),
        )

    def panel(self, interactive: bool = True) -> InvestigationPanel | None:
        """Show the interactive panel in JupyterLab; under papermill (not interactive), nothing."""
        if not interactive:
            return None
        from incident_lab.render.panel import InvestigationPanel

        shown = InvestigationPanel(self.investigation, self.save_to_archive)
        _display(shown.widget)
        return shown

    # The template's sections

    def header(self) -> None:
        show(sections.header(self.investigation))

    def immediate_actions(self) -> None:
        show(sections.immediate_actions(self.investigation))

    def symptoms(self) -> None:
        show(sections.symptoms(self.investigation))

    def timeline(self) -> None:
        show(sections.timeline(self.investigation))

    def overview(self) -> None:
        show(sections.overview(self.investigation))

    def hypotheses(self) -> None:
        show(sections.hypotheses(self.investigation))

    def metrics_over_time(self) -> None:
        show(sections.metrics_over_time(self.investigation))

    def resolution(self) -> None:
        show(sections.resolution(self.investigation))

    def review(self) -> None:
        show(sections.review(self.investigation))
