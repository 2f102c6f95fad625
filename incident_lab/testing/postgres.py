"""A PostgreSQL server for tests: the embedded one, or any server named by
`INCIDENT_LAB_TEST_DSN` (a superuser conninfo; tests create and drop databases)."""

from __future__ import annotations

import os
import secrets
from typing import Protocol

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from incident_lab.embedded import EmbeddedPostgres
from incident_lab.redaction import register_secret

TEST_DSN_VARIABLE = "INCIDENT_LAB_TEST_DSN"


class TestServer(Protocol):
    admin_dsn: str

    def dsn(self, database: str = "postgres") -> str: ...

    def stop(self) -> None: ...


class ExternalServer:
    """A server someone else runs; we only create and drop our own databases on it."""

    def __init__(self, dsn: str) -> None:
        self.admin_dsn = dsn
        register_secret(conninfo_to_dict(dsn).get("password"))  # type: ignore[arg-type]

    def dsn(self, database: str = "postgres") -> str:
        return make_conninfo(self.admin_dsn, dbname=database)

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""


def start_test_server() -> EmbeddedPostgres | ExternalServer:
    external = os.environ.get(TEST_DSN_VARIABLE)
    if external:
        return ExternalServer(external)
    return EmbeddedPostgres(max_connections=200).start()


def create_database(server: TestServer, prefix: str = "incident_lab_test") -> str:
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server.admin_dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(server: TestServer, name: str) -> None:
    with psycopg.connect(server.admin_dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
