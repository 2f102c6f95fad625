"""The `http` kind: a URL that users reach, probed with bounded GET or HEAD requests.

`session` holds the one way probes make HTTP requests (bounded by the budget, recorded
as the test, never raising for a network failure); the LLM kind builds on it.
"""

from __future__ import annotations

from incident_lab.kinds import DefaultHypothesis, TargetKind
from incident_lab.kinds.http.session import HttpSession, HttpTarget

__all__ = ["KIND", "HttpKind", "HttpSession", "HttpTarget"]


class HttpKind(TargetKind):
    name = "http"
    description = "an http(s) URL that users reach, e.g. https://shop.example.com/health"
    secret_advice = "give the whole URL, token and all, through an env:VARIABLE reference"
    default_hypotheses = (DefaultHypothesis("http.error_rate"),)

    def parse(self, reference: str) -> HttpTarget:
        return HttpTarget.parse(reference)

    def split_secret(self, reference: str) -> tuple[str, str | None]:
        return HttpTarget.split_secret(reference)


KIND = HttpKind()
