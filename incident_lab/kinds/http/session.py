"""HTTP targets, and the one way probes make HTTP requests.

Every request goes through `HttpSession.request`: it is bounded by its own timeout and
by what is left of the probe's budget, recorded as part of the probe's test (method,
URL and JSON body, never headers, which is where keys travel), and it returns a
`Response` instead of raising, because for these probes a timeout or a refused
connection is an observation, not a crash.

The client is httpx's `AsyncClient`, run on an event loop in a thread of the session's
own. httpx over requests, because it honours `SSL_CERT_FILE`/`SSL_CERT_DIR` (requests
reads only its own `REQUESTS_CA_BUNDLE`), it has timeouts by default, and an asyncio
task can be cancelled at once from another thread, which neither library's sync
client allows; so the total deadline is one `asyncio.timeout` around connect, headers
and body, and `cancel()` stops requests in flight. The client reads `HTTPS_PROXY`,
`HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` when the session first sends (NO_PROXY names
hosts literally: `127.0.0.1` does not cover `localhost`, and CIDR ranges are not
understood), keeps connections alive between the session's requests, and verifies TLS
with the system's CA store as OpenSSL finds it, which `SSL_CERT_FILE` and
`SSL_CERT_DIR` replace.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import ssl
import threading
import time
import urllib.request
import weakref
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from incident_lab.exceptions import TargetError
from incident_lab.kinds import secret_for
from incident_lab.redaction import MASK, SECRET_QUERY_NAMES, register_secret, scrub

if TYPE_CHECKING:
    from incident_lab.probe import Probe

MAX_BODY_BYTES = 8 * 1024 * 1024
REDIRECTS = (301, 302, 303, 307, 308)
# At most this many connections per session: http.error_rate's highest concurrency.
MAX_CONNECTIONS = 50
PROXY_VARIABLES = ("https", "http", "all", "no")

T = TypeVar("T")


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


# Query parameters that carry credentials in the wild (?token=, ?api_key=, ?sig=, …): the
# names redaction masks in any text, here to take the whole URL out as the secret.
SECRET_QUERY_NAME = re.compile(rf"(?:{SECRET_QUERY_NAMES})", re.IGNORECASE)


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
            if SECRET_QUERY_NAME.fullmatch(name):
                register_secret(value)
        return cls(url, safe_url(url))

    @classmethod
    def split_secret(cls, reference: str) -> tuple[str, str | None]:
        """The URL with secret-looking query values masked, and the whole URL as the secret."""
        parts = urlsplit(check_url(reference))
        query = [(n, MASK if SECRET_QUERY_NAME.fullmatch(n) else v) for n, v in parse_qsl(parts.query)]
        if all(value != MASK for _, value in query):
            return reference, None
        return urlunsplit(parts._replace(query=urlencode(query, safe=MASK))), reference

    @contextmanager
    def session(self, probe: Probe, budget_seconds: float) -> Iterator[HttpSession]:
        with HttpSession(budget_seconds, url=self.url) as session:
            yield session


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


def proxy_settings() -> dict[str, str]:
    """The proxy variables in the environment, as the client will read them."""
    found = urllib.request.getproxies_environment()
    return {name: found[name] for name in PROXY_VARIABLES if found.get(name)}


class _Loop:
    """An event loop on a thread of its own and the httpx client living on it: one
    connection pool per session. It holds no reference to its session, so a session
    nobody closed is still collected, and its finaliser stops the loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.client: httpx.AsyncClient | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, name="incident_lab_http", daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def connection(self) -> httpx.AsyncClient:
        """The client, made on first use (on the loop) so that it reads the proxy
        variables in force when the session first sends."""
        if self.client is None:
            self.client = httpx.AsyncClient(
                verify=ssl.create_default_context(),
                trust_env=True,
                follow_redirects=False,
                timeout=None,  # each request brings its own; the total is asyncio's
                limits=httpx.Limits(max_connections=MAX_CONNECTIONS, keepalive_expiry=30.0),
            )
        return self.client

    def cancel(self) -> None:
        def cancel_all() -> None:
            for task in list(self.tasks):
                task.cancel()

        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(cancel_all)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        if threading.current_thread() is self.thread:  # collected on the loop itself: just stop it
            self.loop.call_soon(self.loop.stop)
            return
        if self.client is not None:
            closing = asyncio.run_coroutine_threadsafe(self.client.aclose(), self.loop)
            try:
                closing.result(timeout=2.0)
            except Exception:  # a connection that will not close cleanly is closed with the loop
                closing.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=2.0)
        if not self.thread.is_alive():
            self.loop.close()


class HttpSession:
    """The opened target handed to an HTTP probe; also the base of LLM sessions.

    Use it as a context manager (or call `close()`) to close its connections at once;
    otherwise they close when the session is collected."""

    def __init__(self, budget_seconds: float, *, url: str = "") -> None:
        self.url = url
        # Stop early enough that the probe can still say what it saw before the runner's deadline.
        margin = min(1.0, max(0.2, budget_seconds * 0.1))
        self.deadline = time.monotonic() + max(budget_seconds - margin, budget_seconds / 2)
        self.tested: list[str] = []
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._loop: _Loop | None = None

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session's connections; a later request opens new ones."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.close()

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
        body: bytes | None = None,
        timeout: float = 10.0,
        record: bool = True,
        follow_redirects: int = 0,
        max_bytes: int = MAX_BODY_BYTES,
    ) -> Response:
        """Send one request (`json_body` as JSON, or `body` as given, with the caller's
        Content-Type), following up to `follow_redirects` redirects of a GET, keeping at
        most `max_bytes` of the (decoded) answer; never raises for what the network or the
        server does."""
        data = body if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        loop = self._running()
        if record:
            shown = f" {data.decode('utf-8', 'replace')}" if data and json_body is not None else ""
            self.note(f"{method} {url}" + (shown or (f" ({len(data)} bytes)" if data else "")))
        sent_headers = {"User-Agent": "incident-lab", "Accept": "application/json, */*", **(headers or {})}
        if json_body is not None:
            sent_headers["Content-Type"] = "application/json"
        answer = loop.run(self._fetch(loop, method, url, sent_headers, data, timeout, max_bytes))
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

    def _running(self) -> _Loop:
        """The session's loop and client, started on first use; the proxies in force are
        recorded with the test, since they decide the way the requests went."""
        with self._lock:
            if self._loop is None:
                self._loop = _Loop()
                weakref.finalize(self, self._loop.close)
                if proxies := proxy_settings():
                    listed = ", ".join(f"{name.upper()}_PROXY={value}" for name, value in proxies.items())
                    self.note(f"(proxies from the environment: {listed})")
            return self._loop

    async def _fetch(
        self,
        loop: _Loop,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        timeout: float,
        max_bytes: int = MAX_BODY_BYTES,
    ) -> Response:
        """One request as a task of its own, so that `cancel()` stops exactly the requests in flight."""
        task = asyncio.current_task()
        assert task is not None
        loop.tasks.add(task)
        try:
            return await self._send(loop.connection(), method, url, headers, data, timeout, max_bytes)
        finally:
            loop.tasks.discard(task)

    async def _send(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        timeout: float,
        max_bytes: int,
    ) -> Response:
        started = time.monotonic()
        allowed = min(timeout, self.remaining())

        def failed(failure: str, detail: str) -> Response:
            elapsed = round((time.monotonic() - started) * 1000, 1)
            return Response(method, url, None, elapsed_ms=elapsed, failure=failure, detail=scrub(detail))

        if self._cancelled.is_set() or allowed <= 0:
            return failed("cut_off", "not sent: the probe's time budget was spent")
        try:
            async with asyncio.timeout(allowed):
                async with client.stream(
                    method, url, headers=dict(headers), content=data, timeout=httpx.Timeout(allowed)
                ) as answer:
                    body = await _read_body(answer, max_bytes)
        except (TimeoutError, httpx.TimeoutException):
            if allowed < timeout:
                return failed(
                    "cut_off", f"no answer before the probe's time budget ran out ({allowed:.1f} s)"
                )
            return failed("timeout", f"no answer within {timeout:g} s")
        except asyncio.CancelledError:
            return failed("cut_off", "cancelled: the probe's time budget was spent")
        except (httpx.HTTPError, OSError, ssl.SSLError) as error:
            return failed("connection_error", describe_error(error))
        elapsed = round((time.monotonic() - started) * 1000, 1)
        names = {name.lower(): value for name, value in answer.headers.items()}
        return Response(method, url, answer.status_code, names, body, elapsed)

    def cancel(self) -> None:
        """Stop every request in flight; called when the probe overruns its budget."""
        self._cancelled.set()
        with self._lock:
            loop = self._loop
        if loop is not None:
            loop.cancel()

    def fan_out(
        self,
        method: str,
        url: str,
        *,
        count: int,
        concurrency: int,
        total_seconds: float,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> list[Response]:
        """Send the same request `count` times, at most `concurrency` at once, none of them
        running past `total_seconds` (or the budget); unsent ones come back as `cut_off`."""
        stop = time.monotonic() + min(total_seconds, self.remaining())
        sent_headers = {"User-Agent": "incident-lab", "Accept": "*/*", **(headers or {})}

        async def every(loop: _Loop) -> list[Response]:
            gate = asyncio.Semaphore(max(1, concurrency))

            async def one() -> Response:
                async with gate:
                    left = stop - time.monotonic()
                    if left <= 0 or self._cancelled.is_set():
                        return Response(
                            method, url, None, failure="cut_off", detail="not sent: the total time was spent"
                        )
                    answer = await self._fetch(loop, method, url, sent_headers, None, min(timeout, left))
                    if answer.failure == "timeout" and left < timeout:
                        return replace(answer, failure="cut_off", detail="cut short by the total time")
                    return answer

            return list(await asyncio.gather(*(one() for _ in range(count))))

        loop = self._running()
        return loop.run(every(loop))


async def _read_body(answer: httpx.Response, max_bytes: int) -> bytes:
    """Read in chunks, and no more than `max_bytes`: an endless body must not fill memory."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= max_bytes:
            break
    return b"".join(chunks)[:max_bytes]


def _root_cause(error: BaseException) -> BaseException:
    """The innermost error: httpx wraps httpcore's, which wraps the socket's or TLS's."""
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    return error


def describe_error(error: BaseException) -> str:
    """A network error as one readable line: `connection refused`, `name not resolved`…"""
    if isinstance(error, httpx.ProxyError):
        return f"the proxy refused to connect: {error}"
    root = _root_cause(error)
    if isinstance(root, ConnectionRefusedError) or "connection refused" in str(error).lower():
        return "connection refused"
    if isinstance(root, OSError) and "name or service not known" in str(root).lower():
        return f"host name not resolved ({root})"
    if isinstance(root, ssl.SSLCertVerificationError):
        return f"TLS error: certificate verify failed: {root.verify_message}"
    if isinstance(root, ssl.SSLError):
        return f"TLS error: {root.reason or root}"
    if isinstance(error, httpx.RemoteProtocolError) and "without sending" in str(error):
        return "the server closed the connection without answering"
    if isinstance(root, ConnectionResetError):
        return "the server closed the connection without answering"
    return f"{type(error).__name__}: {error}".strip()


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (`share` in 0..1): a value that was actually observed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
