"""`incident-lab listen`: a webhook receiver that opens investigations from alerts.

Alertmanager, Grafana and PagerDuty post to `POST /alertmanager`, `/grafana` and
`/pagerduty`; `GET /healthz` says it serves. Served by tornado (it comes with JupyterLab).

- **Authentication.** Every notification needs `Authorization: Bearer TOKEN`, TOKEN being
  `INCIDENT_LAB_LISTEN_TOKEN` (Alertmanager sends it with `http_config.authorization`);
  Grafana's `X-Grafana-Alerting-Signature` and PagerDuty's `X-PagerDuty-Signature`
  (`v1=` hex HMAC-SHA256 of the raw body, several comma-separated during a key's
  rotation) are checked too when `INCIDENT_LAB_GRAFANA_SECRET` or
  `INCIDENT_LAB_PAGERDUTY_SECRET` is set. Otherwise 401 and nothing runs.
- **Answering at once.** The handler only reads, checks and queues: 202 with the
  incident folder the run will go to. Investigations run in `workers` threads, each
  running `incident-lab run` in a subprocess at lower CPU priority (`nice`), so that a
  papermill run's CPU does not slow the webhook. At most `queue` notifications wait;
  one more is answered 503 with `Retry-After`, and never dropped silently.
- **One incident per alert group** (`groupKey`, fingerprint, PagerDuty incident id):
  the first notification of a group fixes the incident's name and date, so a re-fire
  adds a run to the same folder and a resolve adds the final one (its timeline says
  "Alert resolved"). Runs of one group go one at a time, in the order received.
- **Bad input.** Malformed JSON or an unknown shape: 400; a body over
  `MAX_NOTIFICATION_BYTES` (1 MiB): 413; an alert no route gives hypotheses, or whose
  route gives unusable ones: 422. Each with a one-line reason; the server keeps serving.
- **Stopping.** On SIGTERM it stops accepting, lets running investigations finish for
  up to `grace` seconds, then cuts them short; every accepted notification whose run
  did not archive itself is archived as a failed run saying why.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

from incident_lab.archive.execute import archive_failed, prepare
from incident_lab.archive.store import Archive, incident_folder_name
from incident_lab.exceptions import UsageError
from incident_lab.investigation.alerts import (
    MAX_NOTIFICATION_BYTES,
    SOURCES,
    Alert,
    AlertError,
    alert_values,
    decode_notification,
    parse_alert,
)
from incident_lab.investigation.routing import REFERENCE, Routing
from incident_lab.redaction import scrub
from incident_lab.registry import Registry

TOKEN_VARIABLE = "INCIDENT_LAB_LISTEN_TOKEN"
SECRET_VARIABLES = {"grafana": "INCIDENT_LAB_GRAFANA_SECRET", "pagerduty": "INCIDENT_LAB_PAGERDUTY_SECRET"}
SIGNATURE_HEADERS = {"grafana": "X-Grafana-Alerting-Signature", "pagerduty": "X-PagerDuty-Signature"}
RETRY_AFTER_SECONDS = 30
NICENESS = 10
# A body past this is read and thrown away, so that the sender hears 413 rather than a reset.
DISCARD_LIMIT = 64 * MAX_NOTIFICATION_BYTES
LOG = logging.getLogger("incident_lab.listen")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_bind(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--bind must look like HOST:PORT, e.g. 127.0.0.1:9393; got {text[:60]!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def signature_valid(source: str, body: bytes, header: str, secret: str) -> bool:
    """Grafana: the header is the hex HMAC-SHA256 of the body. PagerDuty: `v1=HEX`, several
    comma-separated while keys rotate; any one matching will do."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if source == "pagerduty":
        given = [
            part.strip().removeprefix("v1=") for part in header.split(",") if part.strip().startswith("v1=")
        ]
    else:
        given = [header.strip()]
    return any(hmac.compare_digest(expected, candidate.lower()) for candidate in given if candidate)


@dataclass
class Job:
    """One accepted notification: the investigation it asks for, and what became of it."""

    group: str
    values: dict[str, Any]
    incident_dir: Path
    accepted_at: float = field(default_factory=time.monotonic)
    process: subprocess.Popen[bytes] | None = None
    outcome: str = ""  # "completed", "failed" (archived by the run), "archived failed: …" (by listen)


@dataclass(frozen=True)
class Settings:
    archive: Archive
    registry: Registry
    routing: Routing
    default_route: dict[str, Any]
    token: str | None
    secrets: dict[str, str]
    probe_path: tuple[str, ...] = ()
    workers: int = 2
    queue_size: int = 100
    grace_seconds: float = 60.0


class Listener:
    """The queue, the workers and the alert groups' incidents; the HTTP handlers feed it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.jobs: queue.Queue[Job | None] = queue.Queue(settings.queue_size)
        self.incidents: dict[str, tuple[str, str]] = {}  # group → (incident, date) of its first alert
        self.group_locks: dict[str, threading.Lock] = {}
        self.running: set[int] = set()  # id of each job being run
        self.active: dict[int, Job] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.finished = 0
        self.threads = [
            threading.Thread(target=self.work, name=f"listen-worker-{n}", daemon=True)
            for n in range(settings.workers)
        ]
        self.scratch = Path(tempfile.mkdtemp(prefix="incident_lab_listen_"))

    def start(self) -> None:
        self.warm_up()
        for thread in self.threads:
            thread.start()

    def warm_up(self) -> None:
        """Check each route's targets once before the first alert, so that the libraries
        their kinds load on first use (psycopg, say: half a second) are not loaded while a
        sender waits for its answer. Only warming: a route's `${labels…}` references are
        filled with a stand-in, and what that stand-in makes of a reference is no error."""
        routing = self.settings.routing
        for route in (*routing.routes, *([routing.default] if routing.default else [])):
            targets = {name: REFERENCE.sub("warm-up", str(value)) for name, value in route.targets.items()}
            try:
                prepare(
                    {"incident": "warm-up", "severity": "High", "targets": targets}, self.settings.registry
                )
            except UsageError:
                continue

    # Accepting

    def values_for(self, alert: Alert) -> dict[str, Any]:
        """The investigation one notification asks for; `AlertError` when none can run."""
        values = alert_values(alert)
        route = self.settings.routing.route_for(alert)
        matched = route is not None and route is not self.settings.routing.default
        if matched or not self.settings.default_route:
            values.update(route.values(alert, self.settings.registry) if route else {})
        else:
            values.update(self.settings.default_route)
        with self.lock:
            incident, date = self.incidents.setdefault(alert.group_key, (values["incident"], values["date"]))
        values["incident"], values["date"] = incident, date
        try:
            prepare(values, self.settings.registry)
        except UsageError as error:
            raise AlertError(
                f"this alert cannot be investigated: {scrub(str(error)).splitlines()[0]}"
            ) from None
        return values

    def accept(self, alert: Alert) -> Job:
        """Queue the alert's investigation; `queue.Full` when no room is left."""
        values = self.values_for(alert)
        folder = incident_folder_name(values["incident"], values["date"])
        job = Job(alert.group_key, values, self.settings.archive.incident_dir(folder))
        self.jobs.put_nowait(job)
        return job

    # Running

    def work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if self.stopping.is_set():
                self.record_failed(
                    job, "incident-lab listen stopped (SIGTERM) before this investigation started"
                )
                continue
            with self.group_lock(job.group):
                self.run(job)

    def group_lock(self, group: str) -> threading.Lock:
        with self.lock:
            return self.group_locks.setdefault(group, threading.Lock())

    def command(self, params_file: Path) -> list[str]:
        nice = shutil.which("nice")
        probe_paths = [word for folder in self.settings.probe_path for word in ("--probe-path", folder)]
        # -P: without the working folder first on sys.path, where a folder named incident_lab (a
        # checkout, say) would be imported instead of the installed package.
        run = [sys.executable, "-P", "-m", "incident_lab.cli", *probe_paths, "run", "-f", str(params_file)]
        run += ["--archive", str(self.settings.archive.root)]
        return [nice, "-n", str(NICENESS), *run] if nice else run

    def run(self, job: Job) -> None:
        """One investigation through `incident-lab run`, its parameters in a private file
        (they may hold a target's password, as a user's own -f file may)."""
        handle, name = tempfile.mkstemp(suffix=".json", dir=self.scratch)
        params_file = Path(name)
        try:
            with os.fdopen(handle, "w") as written:
                json.dump(job.values, written)
            with self.lock:
                job.process = subprocess.Popen(
                    self.command(params_file),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,  # a Ctrl-C at the listener's terminal is the listener's
                )
                self.active[id(job)] = job
            stdout, stderr = job.process.communicate()
            said = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
            archived = stdout.decode(errors="replace").strip()
            if archived and job.process.returncode in (0, 1):
                job.outcome = "completed" if job.process.returncode == 0 else "failed"
                LOG.info("investigated group=%s outcome=%s report=%s", job.group, job.outcome, archived)
            else:
                last = said[-1] if said else "no reason given"
                reason = (
                    "incident-lab listen stopped (SIGTERM) while this investigation ran"
                    if self.stopping.is_set() and job.process.returncode != 0
                    else f"incident-lab run exited {job.process.returncode}: {last}"
                )
                self.record_failed(job, reason)
        finally:
            params_file.unlink(missing_ok=True)
            with self.lock:
                self.active.pop(id(job), None)
                self.finished += 1

    def record_failed(self, job: Job, reason: str) -> None:
        try:
            outcome = archive_failed(
                job.values, self.settings.archive, reason, registry=self.settings.registry
            )
            job.outcome = f"archived failed: {reason}"
            LOG.info("archived as failed group=%s reason=%s run=%s", job.group, reason, outcome.run_dir)
        except Exception as error:  # the archive itself is gone: say so, loudly, in the log
            LOG.error("could not archive group=%s (%s): %s", job.group, reason, scrub(str(error)))

    # Stopping

    def stop(self) -> None:
        """Finish what runs (for up to the grace period), cut the rest short, and archive
        every accepted notification that did not archive itself."""
        self.stopping.set()
        deadline = time.monotonic() + self.settings.grace_seconds
        for _ in self.threads:
            self.put_stop()
        while any(thread.is_alive() for thread in self.threads) and time.monotonic() < deadline:
            time.sleep(0.1)
        with self.lock:
            cut = [job for job in self.active.values() if job.process is not None]
        for job in cut:
            if job.process is not None and job.process.poll() is None:
                job.process.send_signal(signal.SIGTERM)
        for thread in self.threads:
            thread.join()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def put_stop(self) -> None:
        """A worker's stop sign, after what is queued (each then archived as not started)."""
        while True:
            try:
                self.jobs.put(None, timeout=0.1)
                return
            except queue.Full:
                continue

    def health(self) -> dict[str, Any]:
        with self.lock:
            return {
                "status": "stopping" if self.stopping.is_set() else "ok",
                "queued": self.jobs.qsize(),
                "running": len(self.active),
                "finished": self.finished,
                "workers": self.settings.workers,
            }


class Health(tornado.web.RequestHandler):
    def initialize(self, listener: Listener) -> None:
        self.listener = listener

    def get(self) -> None:
        self.write(self.listener.health())

    def log_exception(self, *args: Any) -> None:  # one line per request, in `log_request`
        pass


@tornado.web.stream_request_body
class Notifications(tornado.web.RequestHandler):
    """POST /SOURCE: check, read, queue; answer at once."""

    def initialize(self, listener: Listener, source: str) -> None:
        self.listener = listener
        self.source = source
        self.body = bytearray()
        self.too_big = False
        self.note = ""

    def prepare(self) -> None:
        self.request.connection.set_max_body_size(DISCARD_LIMIT)

    def data_received(self, chunk: bytes) -> None:
        if len(self.body) + len(chunk) > MAX_NOTIFICATION_BYTES:
            self.too_big = True
        if not self.too_big:
            self.body.extend(chunk)

    def refuse(self, status: int, reason: str) -> None:
        self.note = reason
        self.set_status(status)
        self.write({"error": reason})

    def authorized(self) -> bool:
        token = self.listener.settings.token
        if token is not None:
            given = self.request.headers.get("Authorization", "")
            scheme, _, credentials = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                credentials.strip().encode(), token.encode()
            ):
                self.refuse(401, "missing or wrong bearer token")
                return False
        secret = self.listener.settings.secrets.get(self.source)
        if secret:
            header = self.request.headers.get(SIGNATURE_HEADERS[self.source], "")
            if not signature_valid(self.source, bytes(self.body), header, secret):
                self.refuse(401, f"missing or wrong {SIGNATURE_HEADERS[self.source]}")
                return False
        return True

    def post(self) -> None:
        if self.too_big:
            return self.refuse(413, f"the notification is larger than {MAX_NOTIFICATION_BYTES // 1024} KiB")
        if not self.authorized():
            return None
        if self.listener.stopping.is_set():
            self.set_header("Retry-After", str(RETRY_AFTER_SECONDS))
            return self.refuse(503, "incident-lab listen is stopping")
        try:
            alert = parse_alert(
                decode_notification(bytes(self.body)),
                self.source,
                self.listener.settings.routing.severity_map,
            )
        except AlertError as error:
            return self.refuse(400, str(error))
        try:
            job = self.listener.accept(alert)
        except AlertError as error:
            return self.refuse(422, str(error))
        except queue.Full:
            self.set_header("Retry-After", str(RETRY_AFTER_SECONDS))
            return self.refuse(503, f"the queue is full ({self.listener.settings.queue_size} waiting)")
        self.note = f"group={alert.group_key} status={alert.status} incident={job.incident_dir.name}"
        self.set_status(202)
        self.write(
            {
                "incident": job.incident_dir.name,
                "folder": self.listener.settings.archive.location(job.incident_dir),
                "group": alert.group_key,
                "status": alert.status,
            }
        )
        return None

    def log_exception(self, *args: Any) -> None:  # one line per request, in `log_request`
        pass


def log_request(handler: tornado.web.RequestHandler) -> None:
    """One line per request: method, path, status, time taken, and what was done; never a
    header's value (the token, a signature)."""
    took = 1000 * handler.request.request_time()
    note = getattr(handler, "note", "")
    LOG.info(
        "%s %s %d %.1fms %s",
        handler.request.method,
        handler.request.path[:80],
        handler.get_status(),
        took,
        scrub(note)[:300],
    )


def application(listener: Listener) -> tornado.web.Application:
    routes: list[Any] = [(r"/healthz", Health, {"listener": listener})]
    routes += [(f"/{source}", Notifications, {"listener": listener, "source": source}) for source in SOURCES]
    return tornado.web.Application(routes, log_function=log_request)


def serve(settings: Settings, host: str, port: int, say: Callable[[str], None]) -> int:
    """Serve until SIGTERM or SIGINT; then stop as the module docstring says."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s listen: %(message)s", stream=sys.stderr)
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    listener = Listener(settings)
    server = tornado.httpserver.HTTPServer(application(listener), max_body_size=DISCARD_LIMIT)
    try:
        sockets = tornado.netutil.bind_sockets(port, host)
    except OSError as error:
        raise OSError(error.errno, f"cannot listen on {host}:{port}: {error.strerror}") from None
    server.add_sockets(sockets)
    bound = sockets[0].getsockname()[1]
    listener.start()
    loop = tornado.ioloop.IOLoop.current()

    def stop_serving(signal_number: int, frame: object) -> None:
        loop.add_callback_from_signal(loop.stop)

    previous = {number: signal.signal(number, stop_serving) for number in (signal.SIGTERM, signal.SIGINT)}
    say(f"listening on http://{host}:{bound} (POST /alertmanager, /grafana, /pagerduty; GET /healthz)")
    try:
        loop.start()
    finally:
        server.stop()
        say("stopping: finishing the investigations under way…")
        listener.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
    say(f"stopped after {listener.finished} investigations")
    return 0


def secrets_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {source: environ[name] for source, name in SECRET_VARIABLES.items() if environ.get(name)}
