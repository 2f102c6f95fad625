"""The template's parameters cell as papermill reads it: every parameter is one papermill
knows, so that injecting it is not reported as "Passed unknown parameter"."""

import logging
import re
from pathlib import Path

import nbformat
import papermill

TEMPLATE = Path(__file__).resolve().parents[2] / "notebooks" / "investigation.ipynb"


def test_papermill_sees_every_parameter_of_the_template(caplog):
    notebook = nbformat.read(TEMPLATE, as_version=4)
    (cell,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assigned = re.findall(r"^(\w+) =", cell.source, flags=re.MULTILINE)
    with caplog.at_level(logging.WARNING, logger="papermill"):
        seen = papermill.inspect_notebook(str(TEMPLATE))
    assert "targets" in assigned and sorted(seen) == sorted(assigned)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("papermill")] == []
