"""The `prometheus` kind: a Prometheus-compatible HTTP API, read over the incident's window.

`session` parses references (a base URL, credentials from the environment) and reads
the API; `window` chooses the range and step around the incident's start; `series`
reads each series against a condition; `evidence` and `charts` turn that into the
result's tables and its chart; `promql` finds an alert's expression and its data side.
A PromQL hypothesis needs a query, so the kind offers no default hypotheses: give one
with `--hypothesis`, `-f params.yaml` or the notebook.
"""

from __future__ import annotations

from incident_lab.charts import Chart
from incident_lab.kinds import AlertHypothesis, TargetKind
from incident_lab.kinds.prometheus.charts import window_chart
from incident_lab.kinds.prometheus.session import PrometheusSession, PrometheusTarget
from incident_lab.result import Result

__all__ = ["KIND", "PrometheusKind", "PrometheusSession", "PrometheusTarget"]


class PrometheusKind(TargetKind):
    name = "prometheus"
    description = (
        "a Prometheus-compatible HTTP API: its base URL, then token=env:VAR or user=… password=env:VAR"
    )

    alert_hypothesis = AlertHypothesis("prometheus.alert_expression", "expression")

    def parse(self, reference: str) -> PrometheusTarget:
        return PrometheusTarget.parse(reference)

    def split_secret(self, reference: str) -> tuple[str, str | None]:
        """A reference that parses holds no secret (credentials are refused unless they are
        `env:` names), so it goes to the kernel whole: scrubbing it would turn
        `password=env:VARIABLE` into `password=***`, which no longer parses."""
        self.parse(reference)
        return reference, None

    def chart(self, result: Result) -> Chart | None:
        return window_chart(result)


KIND = PrometheusKind()
