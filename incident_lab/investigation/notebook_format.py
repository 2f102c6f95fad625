"""How an investigation lives in a notebook's outputs, and the file that hands results to one.

Every result is displayed with its JSON under `MIME_TYPE` (next to HTML and text), so
that `read_results` can read any executed notebook back; the MIME type carries the
schema version, and results displayed under the previous one (`MIME_TYPE_V1`) still
read. Charts carry their file stem in the output's metadata under `CHART_METADATA`.
`Recorded` is the file through which results already taken (by `watch` or the panel)
reach the notebook papermill renders, so that it shows them instead of probing again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incident_lab.investigation.history import Round
from incident_lab.result import SCHEMA_VERSION, Result

MIME_TYPE = f"application/vnd.incident-lab.result.v{SCHEMA_VERSION}+json"
MIME_TYPE_V1 = "application/vnd.incident-lab.result+json"
RESULT_MIME_TYPES = (MIME_TYPE, MIME_TYPE_V1)
CHART_METADATA = "incident_lab_chart"


def results_in(cells: Iterable[Mapping[str, Any]]) -> list[Result]:
    """The results displayed in these notebook cells, in order."""
    found = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            mime = next((mime for mime in RESULT_MIME_TYPES if mime in data), None)
            if mime is not None:
                found.append(Result.from_dict(data[mime]))
    return found


def read_results(path: str | Path) -> list[Result]:
    """The probe results displayed in an executed notebook, in order (local path or
    any URL papermill can read)."""
    import nbformat

    if "://" in str(path):
        from papermill.iorw import load_notebook_node

        notebook = load_notebook_node(str(path))
    else:
        notebook = nbformat.read(str(path), as_version=4)
    return results_in(notebook.cells)


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
