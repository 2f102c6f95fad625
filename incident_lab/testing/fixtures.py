"""pytest fixtures for probe tests against a real PostgreSQL.

- `postgres_server`: one server for the session (embedded, or `INCIDENT_LAB_TEST_DSN`);
- `database`: a fresh database for one test, dropped afterwards; its value is a DSN
  that carries the password, as users' targets sometimes do;
- `pgbouncer`: a real PgBouncer (pool_size 2) in front of the `database` fixture's
  database, with a `session` and a `transaction` pool;
- `provider_standin`: LLM providers, status pages and a web service on 127.0.0.1;
- `prometheus_server`: starts real Prometheus servers with a known history;
- `s3_server`: moto's S3 API on 127.0.0.1 with a bucket, and the AWS variables that reach it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from incident_lab.testing.pgbouncer import PgBouncer, pgbouncer_binary
from incident_lab.testing.postgres import TestServer, create_database, drop_database, start_test_server
from incident_lab.testing.prometheus import MissingComponent, PrometheusServer
from incident_lab.testing.provider_standin import ProviderStandIn
from incident_lab.testing.s3 import S3Server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TestServer]:
    server = start_test_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database(postgres_server: TestServer) -> Iterator[str]:
    name = create_database(postgres_server)
    try:
        yield postgres_server.dsn(name)
    finally:
        drop_database(postgres_server, name)


@pytest.fixture
def pgbouncer(database: str) -> Iterator[PgBouncer]:
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed: apt-get install pgbouncer (.ci/run does)")
    with PgBouncer(database, {"session": "session", "transaction": "transaction"}) as bouncer:
        yield bouncer


@pytest.fixture(scope="session")
def provider_standin() -> Iterator[ProviderStandIn]:
    """The LLM provider, status page and web service stand-in on 127.0.0.1 (see its module)."""
    with ProviderStandIn() as standin:
        yield standin


@pytest.fixture
def prometheus_server() -> Iterator[Callable[..., PrometheusServer]]:
    """Start real Prometheus servers for one test, `prometheus_server(history=openmetrics(…))`
    (see `incident_lab.testing.prometheus`); every one is stopped afterwards."""
    started: list[PrometheusServer] = []

    def start(**options: Any) -> PrometheusServer:
        server = PrometheusServer(**options)
        started.append(server)
        try:
            return server.start()
        except MissingComponent as missing:
            pytest.skip(str(missing))

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 with a bucket (see `incident_lab.testing.s3`)."""
    server = S3Server()
    try:
        server.start()
    except MissingComponent as missing:
        pytest.skip(str(missing))
    try:
        yield server
    finally:
        server.stop()
