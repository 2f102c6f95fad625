"""`incident-lab listen` run as a user runs it, for tests and benchmarks: a subprocess on
127.0.0.1, ready once `/healthz` answers; `post` sends one notification and times the
answer; `stop` sends SIGTERM and waits for it to finish what it accepted."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from incident_lab.exceptions import IncidentLabError
from incident_lab.services import free_port

READY_SECONDS = 60.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    seconds: float  # from sending the request to reading the whole answer


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Listen:
    def __init__(
        self,
        archive: Path,
        options: Sequence[str] = (),
        *,
        token: str | None = "listen-token-for-tests",
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.archive = archive
        self.cwd = cwd
        self.options = list(options)
        self.token = token
        self.env = {**os.environ, **(env or {})}
        if token is not None:
            self.env["INCIDENT_LAB_LISTEN_TOKEN"] = token
        self.port = free_port()
        self.log_path = archive.parent / f"listen-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Listen:
        command = str(Path(sys.executable).with_name("incident-lab"))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    command,
                    "listen",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--archive",
                    str(self.archive),
                    *self.options,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
            )
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                said = self.log()[-4000:]
                raise IncidentLabError(f"incident-lab listen exited {self.process.returncode}: {said}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        said = self.log()[-4000:]
        raise IncidentLabError(f"incident-lab listen was not ready within {READY_SECONDS:g} s: {said}")

    def post(
        self,
        path: str,
        payload: Any,
        *,
        token: str | None = "",
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Answer:
        """POST a notification; `token` "" sends ours, None sends none."""
        body = raw if raw is not None else json.dumps(payload).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        chosen = self.token if token == "" else token
        if chosen is not None:
            sent["Authorization"] = f"Bearer {chosen}"
        request = urllib.request.Request(self.url + path, data=body, headers=sent, method="POST")
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, text, got = answer.status, answer.read(), dict(answer.headers)
        except urllib.error.HTTPError as error:
            status, text, got = error.code, error.read(), dict(error.headers)
        took = time.perf_counter() - began
        return Answer(status, json.loads(text) if text else {}, got, took)

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=10) as answer:
            return dict(json.load(answer))

    def wait_idle(self, timeout: float) -> dict[str, Any]:
        """Wait until nothing is queued or running; the last health seen."""
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            if (health["queued"] == 0 and health["running"] == 0) or time.monotonic() > deadline:
                return health
            time.sleep(0.5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 300) -> int:
        """SIGTERM, then wait: the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)

    def __enter__(self) -> Listen:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
