"""Prometheus targets, and how their probes read the HTTP API.

A reference is the API's base URL (Prometheus, Thanos, Mimir and VictoriaMetrics speak
the same API), optionally followed by credentials taken from the environment:

    prom=prometheus:http://prometheus:9090
    prom=prometheus:https://mimir.example/prometheus token=env:MIMIR_TOKEN
    prom=prometheus:https://prom.example user=oncall password=env:PROM_PASSWORD

A credential is never written in a reference, only the variable that holds it, so no
notebook, report or result can carry it; the value is read when the probe runs and
registered for redaction the moment it is read.

Requests go through `HttpSession` (bounded by the probe's budget, recorded as its test,
never raising, through the proxies the environment names, gzipped on the wire), which
keeps up to `MAX_ANSWER_BYTES` of an answer here: a window of 1,000 series is 16 MB of
JSON.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from incident_lab.exceptions import TargetError
from incident_lab.kinds import ENVIRONMENT_PREFIX
from incident_lab.kinds.http.session import HttpSession, Response, check_url
from incident_lab.kinds.prometheus.window import Window
from incident_lab.redaction import register_secret
from incident_lab.wording import truncate

if TYPE_CHECKING:
    from incident_lab.probe import Probe

OPTIONS = ("token", "user", "password")
MAX_ANSWER_BYTES = 64 * 1024 * 1024


def _variable(option: str, value: str) -> str:
    if not value.startswith(ENVIRONMENT_PREFIX) or not value.removeprefix(ENVIRONMENT_PREFIX):
        # The value is never echoed: it may be the very secret that must not be written.
        raise TargetError(f"{option} must come from the environment: write {option}=env:VARIABLE")
    return value.removeprefix(ENVIRONMENT_PREFIX)


def _environment(variable: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise TargetError(f"environment variable {variable} is not set")
    register_secret(value)
    return value


@dataclass(frozen=True)
class Credentials:
    """Which environment variables hold the credentials (never the credentials themselves)."""

    token_variable: str = ""
    user: str = ""  # a name, or env:VARIABLE
    password_variable: str = ""

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> Credentials:
        if "token" in options and ("user" in options or "password" in options):
            raise TargetError("give either token= or user= and password=, not both")
        if ("user" in options) != ("password" in options):
            raise TargetError("basic auth needs both user= and password=env:VARIABLE")
        return cls(
            _variable("token", options["token"]) if "token" in options else "",
            options.get("user", ""),
            _variable("password", options["password"]) if "password" in options else "",
        )

    def headers(self) -> dict[str, str]:
        """The Authorization header, read from the environment now; `TargetError` naming an
        unset variable."""
        if self.token_variable:
            return {"Authorization": f"Bearer {_environment(self.token_variable)}"}
        if self.password_variable:
            user = self.user
            if user.startswith(ENVIRONMENT_PREFIX):
                user = _environment(user.removeprefix(ENVIRONMENT_PREFIX))
            pair = base64.b64encode(f"{user}:{_environment(self.password_variable)}".encode()).decode()
            register_secret(pair)
            return {"Authorization": f"Basic {pair}"}
        return {}


@dataclass(frozen=True)
class PrometheusTarget:
    """A Prometheus-compatible HTTP API: its base URL and where its credentials are."""

    url: str
    credentials: Credentials
    label: str

    @classmethod
    def parse(cls, reference: str) -> PrometheusTarget:
        url, *words = reference.split()
        url = check_url(url, "Prometheus URL").rstrip("/").removesuffix("/api/v1")
        parts = urlsplit(url)
        if parts.query or parts.fragment:
            raise TargetError("a Prometheus URL takes no query or fragment: give the API's base URL")
        options: dict[str, str] = {}
        for word in words:
            name, sep, value = word.partition("=")
            if not sep or name not in OPTIONS:
                raise TargetError(
                    f"unknown Prometheus option {name!r}: the URL may be followed by "
                    "token=env:VARIABLE, or user=NAME password=env:VARIABLE"
                )
            options[name] = value
        credentials = Credentials.parse(options)
        credentials.headers()  # an unset variable is the user's mistake: say so before anything runs
        return cls(url, credentials, url)

    @contextmanager
    def session(self, probe: Probe, budget_seconds: float) -> Iterator[PrometheusSession]:
        # Nothing to close afterwards: every request opens and closes its own connection.
        yield PrometheusSession(self, budget_seconds)


@dataclass(frozen=True)
class ApiAnswer:
    """What one API call gave: its `data`, Prometheus's `warnings`, or why there is nothing
    to read (`problem`: the error Prometheus answered, quoted, or the request's failure)."""

    data: Any = None
    warnings: tuple[str, ...] = ()
    problem: str | None = None


class PrometheusSession:
    """The opened target handed to a Prometheus probe."""

    def __init__(self, target: PrometheusTarget, budget_seconds: float) -> None:
        self.target = target
        self.http = HttpSession(budget_seconds, url=target.url)
        self._headers = target.credentials.headers()

    @property
    def tested(self) -> list[str]:
        return self.http.tested

    def cancel(self) -> None:
        self.http.cancel()

    def query_range(self, query: str, window: Window, timeout: float) -> ApiAnswer:
        """`/api/v1/query_range` over the window; Prometheus itself gives up after `timeout`."""
        self.http.note(f"PromQL: {query}\nrange: {window.describe()} ({self.target.label})")
        seconds = max(0.001, min(timeout, self.http.remaining()))
        params = {
            "query": query,
            "start": f"{window.start:.3f}",
            "end": f"{window.end:.3f}",
            "step": f"{window.step:g}",
            "timeout": f"{seconds:.3f}",
        }
        return self._get("/api/v1/query_range", params, timeout)

    def _get(self, path: str, params: Mapping[str, str], timeout: float) -> ApiAnswer:
        url = f"{self.target.url}{path}?{urlencode(params)}"
        response = self.http.request(
            "GET", url, headers=self._headers, timeout=timeout, record=False, max_bytes=MAX_ANSWER_BYTES
        )
        return read_answer(response)


def read_answer(response: Response) -> ApiAnswer:
    """An API answer, or the problem with it, in words that quote what Prometheus said."""
    if response.failure is not None:
        return ApiAnswer(problem=f"no answer from Prometheus ({response.failure}: {response.detail})")
    if len(response.body) >= MAX_ANSWER_BYTES:
        return ApiAnswer(
            problem=f"the answer was cut at {MAX_ANSWER_BYTES // 2**20} MB: aggregate the query "
            "(sum by (…)) or raise step_seconds"
        )
    text = response.body
    try:
        body = json.loads(text)
    except ValueError:
        said = truncate(text.decode("utf-8", "replace"), 120) or "an empty body"
        if response.status in (401, 403):
            return ApiAnswer(problem=f"Prometheus refused the credentials (HTTP {response.status}: {said})")
        return ApiAnswer(
            problem=f"HTTP {response.status}, not the Prometheus API (is the URL right?): {said}"
        )
    if not isinstance(body, dict):
        return ApiAnswer(
            problem=f"HTTP {response.status}, not the Prometheus API: a JSON {type(body).__name__}"
        )
    warnings = tuple(str(warning) for warning in body.get("warnings") or ())
    if body.get("status") == "error":
        return ApiAnswer(
            warnings=warnings,
            problem=f"Prometheus answered {body.get('errorType', 'an error')}: {body.get('error', '')}"
            f" (HTTP {response.status})",
        )
    if body.get("status") != "success" or response.status != 200:
        return ApiAnswer(problem=f"HTTP {response.status}, status {body.get('status')!r}, without an error")
    return ApiAnswer(body.get("data"), warnings)
