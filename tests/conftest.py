"""What every test file shares: the real-server fixtures of `incident_lab.testing`, the
installed command, and the split between the fast tier and the rest.

`incident_metrics` is a real Prometheus holding a known incident's metrics.

Tests under `tests/unit/` run pure logic in seconds (`pytest -m "not slow"` runs
them alone); every other test is marked `slow`: it starts servers, kernels or a browser.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from incident_lab.investigation.matching import match_patterns
from incident_lab.result import Result
from incident_lab.runner import default_registry
from incident_lab.services import free_port as find_free_port

pytest_plugins = ["incident_lab.testing.fixtures"]

UNIT_TESTS = Path(__file__).parent / "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if UNIT_TESTS not in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


class Command:
    """The installed `incident-lab`, run as a user runs it."""

    command = str(Path(sys.executable).with_name("incident-lab"))

    def __call__(self, *args: str, timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.command, *args], capture_output=True, text=True, timeout=timeout, **kwargs
        )


@pytest.fixture
def cli() -> Command:
    return Command()


@pytest.fixture
def database_password(database: str) -> str:
    """The password inside the `database` fixture's URI, to look for where it must not be."""
    return str(conninfo_to_dict(database)["password"])


@pytest.fixture
def free_port() -> int:
    return find_free_port()


def ctrl_c_as_from_a_terminal() -> None:
    """`preexec_fn` for a process a test sends SIGINT: a suite started in the background
    (`.ci/run &` in a script, nohup) runs with SIGINT ignored, which its children inherit,
    and Python then never turns SIGINT into KeyboardInterrupt, as is right for them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_a_probe_session(dsn: str, process: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until a probe of `process` is connected to the server (its `application_name`): then a
    signal sent lands inside a probe's window, not in the start-up before it on a busy machine."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as connection:
        query = "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE application_name = 'incident_lab'"
        while not connection.execute(query).fetchone()[0]:  # type: ignore[index]
            assert process.poll() is None, "it ended before any probe connected"
            assert time.monotonic() < deadline, "no probe connected"
            time.sleep(0.05)


def add_migration_history(dsn: str, age: str) -> None:
    """A Django migration applied `age` ago (an interval, e.g. '4 minutes')."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE django_migrations (id serial, app text, name text, applied timestamptz)"
        )
        connection.execute(
            "INSERT INTO django_migrations (app, name, applied)"
            f" VALUES ('shop', '0042_orders_add_shipped_at', now() - interval '{age}')"
        )


def pattern_standing(*results: Result) -> dict[str, str]:
    """Each built-in failure pattern's standing (matched, ruled out, open) given `results`."""
    return {m.pattern: m.status for m in match_patterns(default_registry().patterns, results)}


@dataclass(frozen=True)
class IncidentMetrics:
    """A Prometheus holding two hours of an incident's metrics, up to `now`, every 15 s:
    - `http_requests_error_ratio{service=…}`: checkout at 1% until `spike_at`, 50% from
      then on; catalog flat at 1%; payments at 2% until `stopped_at`, then nothing;
      search at 1% but NaN (no traffic) for the ten minutes before `stopped_at`;
    - `request_duration_seconds{quantile="0.99",service="search"}`: 0.2 s, +Inf (beyond the
      last bucket) for one minute, `overflow_at`;
    - `http_requests_total{service="checkout",code=…}`: 10 requests a second, 1% failing
      until `spike_at`, half of them from then on."""

    server: Any
    now: float
    spike_at: float
    stopped_at: float
    overflow_at: float

    @property
    def url(self) -> str:
        return self.server.url


EVERY = 15.0


def incident_history(now: float) -> tuple[str, float, float, float]:
    from incident_lab.testing.prometheus import openmetrics

    end = now // EVERY * EVERY
    times = [end - EVERY * k for k in range(int(7200 / EVERY), -1, -1)]
    spike_at, stopped_at, overflow_at = end - 600, end - 1200, end - 900
    series: dict[str, list[tuple[float, float]]] = {
        'http_requests_error_ratio{service="checkout"}': [(t, 0.5 if t >= spike_at else 0.01) for t in times],
        'http_requests_error_ratio{service="catalog"}': [(t, 0.01) for t in times],
        'http_requests_error_ratio{service="payments"}': [(t, 0.02) for t in times if t < stopped_at],
        'http_requests_error_ratio{service="search"}': [
            (t, math.nan if stopped_at - 600 <= t < stopped_at else 0.01) for t in times
        ],
        'request_duration_seconds{quantile="0.99",service="search"}': [
            (t, math.inf if overflow_at <= t < overflow_at + 60 else 0.2) for t in times
        ],
    }
    failed = served = 0.0
    for t in times:
        series.setdefault('http_requests_total{code="500",service="checkout"}', []).append((t, failed))
        series.setdefault('http_requests_total{code="200",service="checkout"}', []).append((t, served))
        share = 0.5 if t >= spike_at else 0.01
        failed, served = failed + 10 * EVERY * share, served + 10 * EVERY * (1 - share)
    return openmetrics(series, now=now), spike_at, stopped_at, overflow_at


@pytest.fixture
def incident_metrics(prometheus_server: Any) -> IncidentMetrics:
    now = time.time()
    history, spike_at, stopped_at, overflow_at = incident_history(now)
    return IncidentMetrics(prometheus_server(history=history), now, spike_at, stopped_at, overflow_at)
