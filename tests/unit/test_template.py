"""The template notebook: committed clean, and every parameter readable by papermill."""

import logging
import re
from pathlib import Path

import nbformat
from papermill.translators import PythonTranslator

TEMPLATE = Path(__file__).resolve().parents[2] / "notebooks" / "investigation.ipynb"


def test_the_template_is_committed_without_outputs():
    notebook = nbformat.read(TEMPLATE, as_version=4)
    assert all(
        not cell.get("outputs") and cell.get("execution_count") is None
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


def test_papermill_reads_every_parameter_of_the_parameters_cell_without_a_warning(caplog):
    notebook = nbformat.read(TEMPLATE, as_version=4)
    (cell,) = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assigned = re.findall(r"^(\w+) = ", cell.source, re.MULTILINE)
    with caplog.at_level(logging.WARNING, logger="papermill"):
        seen = [parameter.name for parameter in PythonTranslator.inspect(cell)]
    assert seen == assigned
    assert {"incident", "targets", "hypotheses", "recorded", "interactive", "probe_path"} <= set(assigned)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("papermill")] == []
