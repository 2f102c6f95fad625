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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident_lab.investigation.history import Round
from incident_lab.investigation.state import Investigation
from incident_lab.probe import describe_probe
from incident_lab.result import SCHEMA_VERSION, QueryRecord, Result

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
    """What a session recorded, handed to the notebook papermill renders in a file: each
    hypothesis's latest result (None where untested), the rounds, the queries, and a
    description of every probe used, so that a probe the rendering kernel does not know
    (one defined in a notebook cell) still renders."""

    latest: list[Result | None]
    rounds: list[Round]
    queries: list[QueryRecord] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, investigation: Investigation) -> Recorded:
        """What an investigation has recorded so far."""
        used = sorted({hypothesis.probe for hypothesis in investigation.hypotheses})
        return cls(
            investigation.latest_results,
            list(investigation.rounds),
            list(investigation.queries),
            [describe_probe(investigation.registry.get(probe_id)) for probe_id in used],
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({
            "latest": [r.to_dict() if r is not None else None for r in self.latest],
            "rounds": [r.to_dict() for r in self.rounds],
            "queries": [q.to_dict() for q in self.queries],
            "probes": self.probes,
        }))  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> Recorded:
        data = json.loads(Path(path).read_text())
        return cls(
            [Result.from_dict(r) if r is not None else None for r in data["latest"]],
            [Round.from_dict(r) for r in data["rounds"]],
            [QueryRecord.from_dict(q) for q in data.get("queries", [])],
            list(data.get("probes", [])),
        )
