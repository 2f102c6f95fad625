"""incident_lab: hypothesis probes for incident response.

Probes test one hypothesis each against a live system and return an honest,
tri-state verdict with the evidence; the investigation notebook runs them and
papermill archives the report. This module is the public face: what probes, target
kinds and users' scripts import.
"""

import sys

from incident_lab.charts import BarChart, Chart, TimeSeriesChart
from incident_lab.exceptions import (
    DuplicateKindError,
    DuplicateProbeError,
    IncidentLabError,
    ParameterError,
    TargetError,
    UnknownProbeError,
    UsageError,
)
from incident_lab.kinds import DefaultHypothesis, TargetKind
from incident_lab.kinds.postgres import PostgresSession, PostgresTarget
from incident_lab.probe import Bounds, Finding, OneOf, Param, Probe, confirmed, inconclusive, probe, refuted
from incident_lab.result import Metric, Result, Table
from incident_lab.runner import run, run_many
from incident_lab.verdict import Verdict

# nbformat validates with jsonschema, which builds rfc3987-syntax's Lark grammar for IRI formats
# as it is imported whenever that package is installed (jupyter-events brings it): 3 to 4 s of CPU
# in every `incident-lab run`, for a format no notebook schema uses (python-jsonschema/jsonschema#1428).
# Unless something imported it already, jsonschema then leaves IRI formats unchecked, as it does
# wherever the package is absent.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

__all__ = [
    "BarChart",
    "Bounds",
    "Chart",
    "DefaultHypothesis",
    "DuplicateKindError",
    "DuplicateProbeError",
    "Finding",
    "IncidentLabError",
    "Metric",
    "OneOf",
    "Param",
    "ParameterError",
    "PostgresSession",
    "PostgresTarget",
    "Probe",
    "Result",
    "Table",
    "TargetError",
    "TargetKind",
    "TimeSeriesChart",
    "UnknownProbeError",
    "UsageError",
    "Verdict",
    "confirmed",
    "inconclusive",
    "probe",
    "refuted",
    "run",
    "run_many",
]
