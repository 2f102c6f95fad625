"""A real Prometheus for tests and benchmarks, and the PostgreSQL exporter it can scrape.

`PrometheusServer` runs Debian's `prometheus` on 127.0.0.1 with a temporary storage
path. Its history is written as OpenMetrics (`openmetrics`) and loaded before it starts
by `promtool tsdb create-blocks-from openmetrics`, so that queries see it at once; it
may also scrape exporters (`PostgresExporter`: Debian's
`prometheus-postgres-exporter` in front of a PostgreSQL). As root, every server runs
as the server user of `incident_lab.services`, which owns its folder, blocks included
(Prometheus deletes and compacts them, and fails at start when it may not).
"""

from __future__ import annotations

import math
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

from incident_lab.exceptions import IncidentLabError
from incident_lab.services import free_port, scratch_dir, server_user

READY_SECONDS = 30.0
Point = tuple[float, float]  # Unix seconds, value


class MissingComponent(IncidentLabError):
    """A program the tests need is not installed; the message says which package has it."""


def program(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise MissingComponent(f"{name} is not installed (Debian: apt-get install {package})")
    return found


def openmetrics(series: Mapping[str, Sequence[Point]], *, now: float | None = None) -> str:
    """OpenMetrics text for promtool, from `{'name{label="x"}': [(seconds, value), …]}`.
    promtool's traps are closed here: samples are sorted (it silently drops out-of-order
    ones), timestamps are checked to be seconds, not milliseconds (which it takes for
    seconds in the year 58,000), and none may be in the future (a block ending after now
    makes Prometheus refuse every later write)."""
    limit = (now if now is not None else time.time()) + 1
    lines = []
    for name, points in series.items():
        for at, value in sorted(points):
            if at > limit:
                raise ValueError(
                    f"{name} has a sample in the future ({at:.0f} s): Prometheus would refuse writes"
                )
            lines.append(f"{name} {_value(value)} {at:.3f}")
    return "\n".join([*lines, "# EOF"]) + "\n"


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Service:
    """A server process of ours on 127.0.0.1: its folder, its log, and how it stops."""

    name = "server"

    def __init__(self, prefix: str) -> None:
        self.user = server_user()
        self.root = scratch_dir(prefix, self.user)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _spawn(self, command: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        if self.user is not None:
            self.user.hand_over(self.root)
        with (self.root / "server.log").open("wb") as log:
            self.process = subprocess.Popen(
                list(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=dict(env) if env is not None else None,
                **(self.user.process_options() if self.user else {}),
            )

    def _wait(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise IncidentLabError(f"{self.name} exited with {self.process.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(url, headers=dict(headers or {})), timeout=2
                ):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise IncidentLabError(f"{self.name} was not ready within {READY_SECONDS:g} s: {self.log()}")

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def pause(self) -> None:
        """Stop the process without ending it: it still accepts connections, and answers nothing."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """End the process (and remove its folder), always."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.resume()
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class PrometheusServer(Service):
    """`with PrometheusServer(history=openmetrics(…)) as prom: prom.url`."""

    name = "prometheus"

    def __init__(
        self,
        *,
        history: str = "",
        scrape: Sequence[str] = (),
        scrape_interval: str = "1s",
        lookback_delta: str = "1m",
        remote_read: str = "",
        web_config: str = "",
        ready_headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__("incident_lab_prometheus_")
        self.history = history
        self.scrape = scrape
        self.scrape_interval = scrape_interval
        self.lookback_delta = lookback_delta
        self.remote_read = remote_read
        self.web_config = web_config
        self.ready_headers = ready_headers or {}

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> PrometheusServer:
        prometheus = program("prometheus", "prometheus")
        storage = self.root / "data"
        every = self.scrape_interval
        config = [f"global: {{scrape_interval: {every}, evaluation_interval: {every}}}"]
        if self.scrape:
            targets = ", ".join(f"'{target}'" for target in self.scrape)
            config.append(
                f"scrape_configs: [{{job_name: exporters, static_configs: [{{targets: [{targets}]}}]}}]"
            )
        if self.remote_read:
            config.append(f"remote_read: [{{url: '{self.remote_read}', read_recent: true}}]")
        (self.root / "prometheus.yml").write_text("\n".join(config) + "\n")
        if self.history:
            self._backfill(storage)
        flags = [
            f"--config.file={self.root / 'prometheus.yml'}",
            f"--storage.tsdb.path={storage}",
            "--storage.tsdb.retention.time=30d",
            f"--query.lookback-delta={self.lookback_delta}",
        ]
        if self.web_config:
            (self.root / "web.yml").write_text(self.web_config)
            flags.append(f"--web.config.file={self.root / 'web.yml'}")
        self.port = free_port()
        self._spawn([prometheus, *flags, f"--web.listen-address={self.address}"])
        self._wait(f"{self.url}/-/ready", self.ready_headers)
        return self

    def _backfill(self, storage: Path) -> None:
        source = self.root / "history.om"
        source.write_text(self.history)
        if self.user is not None:
            self.user.hand_over(self.root)
        done = subprocess.run(
            [
                program("promtool", "prometheus"),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "-q",
                str(source),
                str(storage),
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
            **(self.user.process_options() if self.user else {}),
        )
        if done.returncode:
            raise IncidentLabError(f"promtool could not load the history: {done.stderr.strip()[-500:]}")

    def wait_for_scrapes(self, count: int = 1) -> None:
        """Wait until every scrape target has been scraped successfully `count` times."""
        import json

        deadline = time.monotonic() + READY_SECONDS
        query = quote('min(sum_over_time(up{job="exporters"}[1h]))')
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{self.url}/api/v1/query?query={query}", timeout=5) as answer:
                result = json.load(answer)["data"]["result"]
            if result and float(result[0]["value"][1]) >= count:
                return
            time.sleep(0.2)
        raise IncidentLabError(f"the exporters were not scraped {count} times within {READY_SECONDS:g} s")

    def __enter__(self) -> PrometheusServer:
        return self.start()


class PostgresExporter(Service):
    """Debian's `prometheus-postgres-exporter` for one PostgreSQL (a libpq URI or conninfo),
    with the extra metrics of `queries` (its `--extend.query-path` YAML)."""

    name = "prometheus-postgres-exporter"

    def __init__(self, dsn: str, queries: str = "") -> None:
        super().__init__("incident_lab_exporter_")
        self.dsn = dsn
        self.queries = queries

    def start(self) -> PostgresExporter:
        exporter = program("prometheus-postgres-exporter", "prometheus-postgres-exporter")
        flags = []
        if self.queries:
            (self.root / "queries.yaml").write_text(self.queries)
            flags.append(f"--extend.query-path={self.root / 'queries.yaml'}")
        self.port = free_port()
        # The exporter's driver wants TLS unless told otherwise, and then reports pg_up 0.
        self._spawn(
            [exporter, *flags, f"--web.listen-address={self.address}"],
            env={"DATA_SOURCE_NAME": libpq_uri(self.dsn), "PATH": "/usr/bin:/bin"},
        )
        self._wait(f"http://{self.address}/metrics")
        return self

    def __enter__(self) -> PostgresExporter:
        return self.start()


def libpq_uri(dsn: str) -> str:
    """A conninfo or URI as the URI lib/pq reads, TLS off unless the DSN asks for it."""
    parts = conninfo_to_dict(dsn)
    user = quote(str(parts.get("user", "postgres")), safe="")
    password = f":{quote(str(parts['password']), safe='')}" if parts.get("password") else ""
    place = f"{parts.get('host', '127.0.0.1')}:{parts.get('port', 5432)}"
    database = quote(str(parts.get("dbname", "postgres")))
    return f"postgresql://{user}{password}@{place}/{database}?sslmode={parts.get('sslmode', 'disable')}"
