"""HTTP targets, and the one way probes make HTTP requests.

Every request goes through `HttpSession.request`: it is bounded by its own timeout and
by what is left of the probe's budget, recorded as part of the probe's test (method,
URL and JSON body, never headers, which is where keys travel), and it returns a
`Response` instead of raising, because for these probes a timeout or a refused
connection is an observation, not a crash. Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from incident_lab.exceptions import TargetError
from incident_lab.kinds import secret_for
from incident_lab.redaction import MASK, register_secret, scrub

if TYPE_CHECKING:
    from incident_lab.probe import Probe

MAX_BODY_BYTES = 8 * 1024 * 1024
REDIRECTS = (301, 302, 303, 307, 308)


# A URL carries none of these: a space, a CR or LF (header injection), any control character.
CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f]")


def check_url(url: str, what: str = "URL") -> str:
    """An absolute http(s) URL without credentials; `TargetError` naming the problem otherwise."""
    url = url.strip()
    if CONTROL_OR_SPACE.search(url):
        raise TargetError(f"{what} contains whitespace or control characters: {scrub(url)[:60]!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a malformed port raises only when read)
    except ValueError:
        raise TargetError(f"malformed {what}: {scrub(url)[:60]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"{what} must start with http:// or https:// and name a host: {scrub(url)[:60]!r}")
    if parts.username is not None or parts.password is not None:
        # Never echo the URL here: it holds the credential.
        raise TargetError(f"{what} must not carry credentials; keys come from environment variables")
    return url


# Query parameters that carry credentials in the wild (?token=, ?api_key=, ?sig=, …).
SECRET_QUERY_NAMES = re.compile(r"token|key|secret|sig|pass|auth|credential|session|code", re.IGNORECASE)


def safe_url(url: str) -> str:
    """The URL as people may read it: query values hidden (tokens sometimes travel there)."""
    parts = urlsplit(url)
    query = "?…" if parts.query else ""
    return scrub(f"{parts.scheme}://{parts.netloc}{parts.path}{query}")


@dataclass(frozen=True)
class HttpTarget:
    """A URL that users reach, e.g. `http=https://shop.example.com/health`."""

    url: str
    label: str

    @classmethod
    def parse(cls, reference: str) -> HttpTarget:
        url = check_url(secret_for(reference) or reference)
        for name, value in parse_qsl(urlsplit(url).query):
            if SECRET_QUERY_NAMES.search(name):
                register_secret(value)
        return cls(url, safe_url(url))

    @classmethod
    def split_secret(cls, reference: str) -> tuple[str, str | None]:
        """The URL with secret-looking query values masked, and the whole URL as the secret."""
        parts = urlsplit(check_url(reference))
        query = [(n, MASK if SECRET_QUERY_NAMES.search(n) else v) for n, v in parse_qsl(parts.query)]
        if all(value != MASK for _, value in query):
            return reference, None
        return urlunsplit(parts._replace(query=urlencode(query, safe=MASK))), reference

    @contextmanager
    def session(self, probe: Probe, budget_seconds: float) -> Iterator[HttpSession]:
        # Nothing to close afterwards: every request opens and closes its own connection.
        yield HttpSession(budget_seconds, url=self.url)


@dataclass(frozen=True)
class Response:
    """One request's outcome: an HTTP answer (`status`) or why there was none (`failure`)."""

    method: str
    url: str
    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""
    elapsed_ms: float = 0.0
    failure: str | None = None  # timeout, cut_off (the probe's budget ran out), connection_error
    detail: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; `ValueError` when it is not."""
        return json.loads(self.body)

    @property
    def outcome(self) -> str:
        """The status code as text, or the failure: what error-rate tables count."""
        return str(self.status) if self.status is not None else str(self.failure)


class HttpSession:
    """The opened target handed to an HTTP probe; also the base of LLM sessions."""

    def __init__(self, budget_seconds: float, *, url: str = "") -> None:
        self.url = url
        # Stop early enough that the probe can still say what it saw before the runner's deadline.
        margin = min(1.0, max(0.2, budget_seconds * 0.1))
        self.deadline = time.monotonic() + max(budget_seconds - margin, budget_seconds / 2)
        self.tested: list[str] = []
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cancelled = threading.Event()

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def note(self, line: str) -> None:
        """Record a request (or a batch of them) as part of the probe's test."""
        self.tested.append(scrub(line))

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        timeout: float = 10.0,
        record: bool = True,
        follow_redirects: int = 0,
    ) -> Response:
        """Send one request, following up to `follow_redirects` redirects of a GET; never
        raises for what the network or the server does."""
        data = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        if record:
            self.note(f"{method} {url}" + (f" {data.decode()}" if data else ""))
        sent_headers = {"User-Agent": "incident-lab", "Accept": "application/json, */*", **(headers or {})}
        if data is not None:
            sent_headers["Content-Type"] = "application/json"
        answer = self._send(method, url, sent_headers, data, timeout)
        target = urljoin(url, answer.headers.get("location", ""))
        if follow_redirects and method == "GET" and answer.status in REDIRECTS and target != url:
            if urlsplit(target).scheme not in ("http", "https"):
                return answer
            if urlsplit(target).netloc != urlsplit(url).netloc:
                headers = None  # keys are for the host they were meant for
            return self.request(
                "GET",
                target,
                headers=headers,
                timeout=timeout,
                record=record,
                follow_redirects=follow_redirects - 1,
            )
        return answer

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], data: bytes | None, timeout: float
    ) -> Response:
        started = time.monotonic()
        allowed = min(timeout, self.remaining())

        def failed(failure: str, detail: str) -> Response:
            elapsed = round((time.monotonic() - started) * 1000, 1)
            return Response(method, url, None, elapsed_ms=elapsed, failure=failure, detail=scrub(detail))

        if self._cancelled.is_set() or allowed <= 0:
            return failed("cut_off", "not sent: the probe's time budget was spent")
        until = started + allowed
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection: http.client.HTTPConnection
        # The port is always explicit: given none, http.client misreads an IPv6 literal's last colon.
        if parts.scheme == "https":
            context = ssl.create_default_context()
            connection = http.client.HTTPSConnection(
                parts.hostname, parts.port or 443, timeout=allowed, context=context
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=allowed)
        sock: socket.socket | None = None
        try:
            connection.connect()
            sock = connection.sock
            self._track(sock)
            connection.request(method, path, body=data, headers=dict(headers))
            sock.settimeout(max(0.001, until - time.monotonic()))
            answer = connection.getresponse()
            body = _read_body(answer, sock, until)
        except TimeoutError:
            if allowed < timeout:
                return failed(
                    "cut_off", f"no answer before the probe's time budget ran out ({allowed:.1f} s)"
                )
            return failed("timeout", f"no answer within {timeout:g} s")
        except (OSError, http.client.HTTPException) as error:
            if self._cancelled.is_set():
                return failed("cut_off", "cancelled: the probe's time budget was spent")
            return failed("connection_error", describe_error(error))
        finally:
            self._untrack(sock)
            connection.close()
        elapsed = round((time.monotonic() - started) * 1000, 1)
        names = {name.lower(): value for name, value in answer.getheaders()}
        return Response(method, url, answer.status, names, body, elapsed)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _untrack(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sockets.discard(sock)  # type: ignore[arg-type]

    def cancel(self) -> None:
        """Stop every request in flight; called when the probe overruns its budget."""
        self._cancelled.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            # shutdown, unlike close, wakes a thread blocked in recv on this socket.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def fan_out(
        self, method: str, url: str, *, count: int, concurrency: int, total_seconds: float, timeout: float
    ) -> list[Response]:
        """Send the same request `count` times, at most `concurrency` at once, none of them
        running past `total_seconds` (or the budget); unsent ones come back as `cut_off`."""
        stop = time.monotonic() + min(total_seconds, self.remaining())

        def one(_: int) -> Response:
            left = stop - time.monotonic()
            if left <= 0 or self._cancelled.is_set():
                return Response(
                    method, url, None, failure="cut_off", detail="not sent: the total time was spent"
                )
            answer = self.request(method, url, timeout=min(timeout, left), record=False)
            if answer.failure == "timeout" and left < timeout:
                return replace(answer, failure="cut_off", detail="cut short by the total time")
            return answer

        with ThreadPoolExecutor(
            max_workers=max(1, concurrency), thread_name_prefix="incident_lab_http"
        ) as pool:
            return list(pool.map(one, range(count)))


def _read_body(answer: http.client.HTTPResponse, sock: socket.socket, until: float) -> bytes:
    """Read in chunks so that a server trickling bytes cannot outlast the deadline."""
    chunks: list[bytes] = []
    size = 0
    while size < MAX_BODY_BYTES and not answer.isclosed():  # closed: all of a sized body was read
        left = until - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = answer.read(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def describe_error(error: BaseException) -> str:
    """A network error as one readable line: `connection refused`, `name not resolved`…"""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"host name not resolved ({error.strerror})"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, http.client.RemoteDisconnected | ConnectionResetError):
        return "the server closed the connection without answering"
    return f"{type(error).__name__}: {error}".strip()


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (`share` in 0..1): a value that was actually observed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
