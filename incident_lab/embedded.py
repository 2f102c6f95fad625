"""An embedded PostgreSQL server for the demo, the tests and the benchmarks.

It runs the binaries bundled by the `pgserver` package (or those in
`INCIDENT_LAB_PG_BIN`), listens on 127.0.0.1 with a generated password (scram) and
on a private Unix socket with trust for its owner, and stops when closed. As root
it runs the server as an unprivileged system user, since PostgreSQL refuses root.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from incident_lab.exceptions import IncidentLabError
from incident_lab.redaction import register_secret
from incident_lab.services import free_port

SERVER_USER = "incident_lab"
SUPERUSER = "postgres"


def postgres_bin_dir() -> Path:
    configured = os.environ.get("INCIDENT_LAB_PG_BIN")
    if configured:
        return Path(configured)
    # Located, not imported: importing pgserver sets up machinery we do not use.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise IncidentLabError("no PostgreSQL binaries: install pgserver or set INCIDENT_LAB_PG_BIN")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """A throw-away PostgreSQL server: `with EmbeddedPostgres() as server: server.dsn("shop")`."""

    def __init__(self, *, max_connections: int = 100, settings: dict[str, str] | None = None) -> None:
        self.max_connections = max_connections
        self.settings = settings or {}
        self.password = secrets.token_urlsafe(18)
        register_secret(self.password)
        self.port = 0
        self.root = Path(tempfile.mkdtemp(prefix="incident_lab_pg_"))
        self.data_dir = self.root / "data"
        self.bin_dir = postgres_bin_dir()
        self._run_as = SERVER_USER if os.geteuid() == 0 else None
        self._started = False

    def start(self) -> EmbeddedPostgres:
        self._prepare_for_server_user()
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        self._hand_over(password_file)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--encoding=UTF8",
            "--no-sync",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={password_file}",
        )
        password_file.unlink()
        return self._launch()

    def standby(self, slot: str) -> EmbeddedPostgres:
        """A hot standby streaming from this server through the physical slot `slot`."""
        import psycopg

        with psycopg.connect(self.admin_dsn, autocommit=True) as connection:
            connection.execute("SELECT pg_catalog.pg_create_physical_replication_slot(%s)", [slot])
        replica = EmbeddedPostgres(max_connections=self.max_connections, settings=self.settings)
        replica.password = self.password  # the base backup copies the roles and their passwords
        replica._prepare_for_server_user()
        source = ["-h", str(self.root), "-p", str(self.port), "-U", SUPERUSER]
        stream = ["-R", "-S", slot, "-X", "stream", "--checkpoint=fast"]
        replica._run("pg_basebackup", "-D", str(replica.data_dir), *source, *stream)
        return replica._launch()

    def _launch(self) -> EmbeddedPostgres:
        self.port = free_port()
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "max_connections": str(self.max_connections),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **self.settings,
        }
        server_options = " ".join(f"-c {name}={value}" for name, value in options.items())
        log = str(self.root / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", log, "-o", server_options, "-w", "-t", "60", "start"
        )
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def admin_dsn(self) -> str:
        """Superuser over the private Unix socket, no password: for setting up scenarios."""
        return f"host={self.root} port={self.port} user={SUPERUSER} dbname=postgres"

    def dsn(self, database: str = "postgres", *, user: str = SUPERUSER, password: str | None = None) -> str:
        """A TCP URI with the password in it, as a careless user would pass one."""
        secret = self.password if password is None else password
        return f"postgresql://{quote(user)}:{quote(secret)}@127.0.0.1:{self.port}/{quote(database)}"

    def create_database(self, name: str) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_dsn, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def _prepare_for_server_user(self) -> None:
        if self._run_as is None:
            return
        if (
            shutil.which("useradd")
            and subprocess.run(["id", "-u", SERVER_USER], capture_output=True, check=False).returncode
        ):
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
                check=True,
                capture_output=True,
            )
        # The server user must reach the bundled binaries, which may sit under /root.
        for folder in [self.bin_dir, *self.bin_dir.parents]:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                folder.chmod(mode | stat.S_IXOTH)
        self._hand_over(self.root)

    def _hand_over(self, path: Path) -> None:
        if self._run_as is not None:
            shutil.chown(path, SERVER_USER, SERVER_USER)

    def _run(self, program: str, *args: str) -> None:
        completed = subprocess.run(
            [str(self.bin_dir / program), *args],
            user=self._run_as,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
        )
        if completed.returncode:
            log_file = self.root / "server.log"
            server_log = log_file.read_text()[-2000:] if log_file.exists() else ""
            raise IncidentLabError(
                f"embedded PostgreSQL: {program} failed: {completed.stderr.strip()[-2000:]}\n{server_log}"
            )
