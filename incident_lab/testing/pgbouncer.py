"""A real PgBouncer in front of a test PostgreSQL, for tests of probes through a pooler and
of the `pgbouncer` kind.

It runs Debian's `pgbouncer` (1.18 here) in the foreground on a free port of 127.0.0.1,
with scram-sha-256 logins from its own auth file, an admin user and a stats user for
its console, and one pool per database alias: each alias names a database on the
PostgreSQL and its pool mode (session or transaction). PgBouncer refuses to run as
root, so as root it runs as the servers' user (`incident_lab.services`), with its own
group and no other.

    with PgBouncer(postgres_dsn, {"shop": "session", "shop_tx": "transaction"}) as bouncer:
        bouncer.dsn("shop_tx")    # a client of the transaction pool
        bouncer.console_dsn()     # the admin console, as the stats user
"""

from __future__ import annotations

import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

from incident_lab.redaction import register_secret
from incident_lab.services import free_port, scratch_dir, server_user

BINARY_PLACES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
ADMIN_USER = "pgbouncer_admin"
STATS_USER = "pgbouncer_stats"


def pgbouncer_binary() -> str | None:
    """Where PgBouncer is installed (Debian puts it in /usr/sbin), if it is."""
    return shutil.which("pgbouncer") or next((p for p in BINARY_PLACES if Path(p).exists()), None)


class PgBouncer:
    """One PgBouncer process; `start()` (or `with`) writes its configuration and runs it."""

    def __init__(
        self,
        postgres_dsn: str,
        pools: Mapping[str, str],
        *,
        pool_size: int = 2,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """`postgres_dsn`: a superuser URI or conninfo (with its password) of the database
        behind every pool; `pools`: alias → pool mode; `settings`: more [pgbouncer] lines."""
        self._backend = conninfo_to_dict(postgres_dsn)
        self.pools = dict(pools)
        self.pool_size = pool_size
        self.settings = dict(settings or {})
        self.admin_password = secrets.token_urlsafe(12)
        self.stats_password = secrets.token_urlsafe(12)
        register_secret(self.admin_password)
        register_secret(self.stats_password)
        self.port = 0
        self._user = server_user()
        self.root = scratch_dir("incident_lab_pgbouncer_", self._user)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> PgBouncer:
        binary = pgbouncer_binary()
        if binary is None:
            raise FileNotFoundError("pgbouncer is not installed (apt-get install pgbouncer)")
        self.port = free_port()
        user, password = str(self._backend["user"]), str(self._backend["password"])
        users = {user: password, ADMIN_USER: self.admin_password, STATS_USER: self.stats_password}
        (self.root / "userlist.txt").write_text(
            "".join(f'"{name}" "{word}"\n' for name, word in users.items())
        )
        (self.root / "userlist.txt").chmod(0o600)
        backend = (
            f"host={self._backend['host']} port={self._backend['port']} dbname={self._backend['dbname']}"
        )
        databases = "".join(f"{alias} = {backend} pool_mode={mode}\n" for alias, mode in self.pools.items())
        options = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "scram-sha-256",
            "auth_file": str(self.root / "userlist.txt"),
            "admin_users": ADMIN_USER,
            "stats_users": STATS_USER,
            "default_pool_size": str(self.pool_size),
            "max_client_conn": "100",
            "logfile": str(self.root / "pgbouncer.log"),
            "pidfile": str(self.root / "pgbouncer.pid"),
            **self.settings,
        }
        ini = (
            "[databases]\n"
            + databases
            + "\n[pgbouncer]\n"
            + "".join(f"{k} = {v}\n" for k, v in options.items())
        )
        (self.root / "pgbouncer.ini").write_text(ini)
        if self._user is not None:
            self._user.hand_over(self.root)
        with open(self.root / "stderr.log", "ab") as errors:
            self._process = subprocess.Popen(
                [binary, str(self.root / "pgbouncer.ini")],
                stdout=subprocess.DEVNULL,
                stderr=errors,
                cwd=self.root,
                **(self._user.process_options() if self._user else {}),
            )
        self._wait_until_listening()
        return self

    def _wait_until_listening(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start: {self.log()[-1500:]}")
            with socket.socket() as probe_socket:
                if probe_socket.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"pgbouncer did not listen on 127.0.0.1:{self.port}: {self.log()[-1500:]}")

    def log(self) -> str:
        return "".join(
            path.read_text(errors="replace")
            for path in (self.root / "stderr.log", self.root / "pgbouncer.log")
            if path.exists()
        )

    def stop(self) -> None:
        """Shut down (SIGINT: PgBouncer's safe shutdown, then a kill if it lingers) and
        remove its folder."""
        try:
            if self._process is not None and self._process.poll() is None:
                self._process.send_signal(signal.SIGINT)
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
        finally:
            self._process = None
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def dsn(self, alias: str) -> str:
        """A client of one pool, as the application would connect (the password in the URI)."""
        user, password = quote(str(self._backend["user"])), quote(str(self._backend["password"]))
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{quote(alias)}"

    def console_dsn(self, *, admin: bool = False) -> str:
        """The admin console (database `pgbouncer`), as the stats user or the admin."""
        user, password = (ADMIN_USER, self.admin_password) if admin else (STATS_USER, self.stats_password)
        return f"postgresql://{user}:{quote(password)}@127.0.0.1:{self.port}/pgbouncer"
