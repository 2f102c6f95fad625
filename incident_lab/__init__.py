"""incident_lab: hypothesis probes for incident response.

Probes test one hypothesis each against a live system and return an honest,
tri-state verdict with the evidence; the investigation notebook runs them and
papermill archives the report.
"""

from incident_lab.exceptions import (
    DuplicateProbeError,
    IncidentLabError,
    ParameterError,
    TargetError,
    UnknownProbeError,
    UsageError,
)
from incident_lab.postgres import PostgresSession, PostgresTarget
from incident_lab.probe import Finding, Param, Probe, confirmed, inconclusive, probe, refuted
from incident_lab.result import MIME_TYPE, Metric, Result, Table
from incident_lab.runner import run, run_many

__all__ = [
    "MIME_TYPE",
    "DuplicateProbeError",
    "Finding",
    "IncidentLabError",
    "Metric",
    "Param",
    "ParameterError",
    "PostgresSession",
    "PostgresTarget",
    "Probe",
    "Result",
    "Table",
    "TargetError",
    "UnknownProbeError",
    "UsageError",
    "confirmed",
    "inconclusive",
    "probe",
    "refuted",
    "run",
    "run_many",
]
