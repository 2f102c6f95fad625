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
never raising). Two things it lacks are added here: answers are asked for gzipped (a
window of 1,000 series is 16 MB of JSON, 3 MB gzipped, and HttpSession keeps at most
8 MB), and a proxy named by `HTTP_PROXY`/`HTTPS_PROXY` is used unless `NO_PROXY`
exempts the host.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from incident_lab.exceptions import TargetError
from incident_lab.kinds import ENVIRONMENT_PREFIX
from incident_lab.kinds.http.session import MAX_BODY_BYTES, HttpSession, Response, check_url, describe_error
from incident_lab.kinds.prometheus.window import Window
from incident_lab.redaction import register_secret
from incident_lab.wording import truncate

if TYPE_CHECKING:
    from incident_lab.probe import Probe

OPTIONS = ("token", "user", "password")
MAX_DECODED_BYTES = 512 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


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
        self._headers = {"Accept-Encoding": "gzip", **target.credentials.headers()}

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
        proxy = proxy_for(url)
        if proxy is None:
            response = self.http.request("GET", url, headers=self._headers, timeout=timeout, record=False)
        else:
            parts = urlsplit(proxy)
            register_secret(parts.password)  # a proxy's own credentials may sit in its URL
            self.http.note(f"through the proxy {parts.hostname}:{parts.port} (from the environment)")
            response = self._through(proxy, url, timeout)
        return read_answer(response)

    def _through(self, proxy: str, url: str, timeout: float) -> Response:
        """One GET through an HTTP proxy, as `HttpSession.request` answers: never raising,
        bounded by the budget, no redirect followed."""
        started = time.monotonic()
        allowed = min(timeout, self.http.remaining())

        def failed(failure: str, detail: str) -> Response:
            elapsed = round((time.monotonic() - started) * 1000, 1)
            return Response("GET", url, None, elapsed_ms=elapsed, failure=failure, detail=detail)

        if allowed <= 0:
            return failed("cut_off", "not sent: the probe's time budget was spent")
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({urlsplit(url).scheme: proxy}), _NoRedirects()
        )
        request = urllib.request.Request(url, headers=self._headers, method="GET")
        try:
            try:
                answer = opener.open(request, timeout=allowed)
            except urllib.error.HTTPError as error:  # an answer all the same: 4xx, 5xx, 3xx
                answer = error
            with answer:
                body = answer.read(MAX_BODY_BYTES)
        except (TimeoutError, urllib.error.URLError, OSError) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            if isinstance(reason, TimeoutError):
                return failed("timeout", f"no answer through the proxy within {allowed:.1f} s")
            return failed(
                "connection_error", describe_error(reason) if isinstance(reason, OSError) else str(reason)
            )
        elapsed = round((time.monotonic() - started) * 1000, 1)
        headers = {name.lower(): value for name, value in answer.headers.items()}
        return Response("GET", url, answer.status, headers, body, elapsed)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to report, not to follow: the credentials are for this host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for the URL's scheme, unless `NO_PROXY` exempts its host."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.netloc):
        return None
    return proxy


def decoded(body: bytes) -> bytes:
    """The body, gunzipped when it came gzipped (a client that already did so leaves no gzip)."""
    if not body.startswith(GZIP_MAGIC):
        return body
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    plain = inflater.decompress(body, MAX_DECODED_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"the answer is larger than {MAX_DECODED_BYTES // 2**20} MB")
    return plain


def read_answer(response: Response) -> ApiAnswer:
    """An API answer, or the problem with it, in words that quote what Prometheus said."""
    if response.failure is not None:
        return ApiAnswer(problem=f"no answer from Prometheus ({response.failure}: {response.detail})")
    if len(response.body) >= MAX_BODY_BYTES:
        return ApiAnswer(
            problem=f"the answer was cut at {MAX_BODY_BYTES // 2**20} MB: aggregate the query "
            "(sum by (…)) or raise step_seconds"
        )
    try:
        text = decoded(response.body)
    except (ValueError, zlib.error) as error:
        return ApiAnswer(problem=f"HTTP {response.status}, an answer that cannot be read: {error}")
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
