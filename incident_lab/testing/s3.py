"""A real S3 API for tests and benchmarks: moto's standalone server on 127.0.0.1.

`S3Server` runs `python -m moto.server` on a free port of loopback, creates a bucket and
gives the standard AWS variables that point s3fs (through botocore) at it, so that the
archive is reached exactly as a team's bucket would be: nothing about the endpoint or
the credentials is passed to incident_lab itself. As root, the server runs as the
servers' user of `incident_lab.services` (its own uid and group, no other group); that
user must reach an interpreter of this Python version and the environment moto is
installed in, which a virtual environment in root's closed home would not let it.

    with S3Server() as s3:
        env = {**os.environ, **s3.env}   # AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, …
        archive = f"s3://{s3.bucket}/incidents"
"""

from __future__ import annotations

import secrets
import sys
import sysconfig
import urllib.request
from pathlib import Path
from types import TracebackType

from incident_lab.redaction import register_secret
from incident_lab.services import ServerUser, free_port
from incident_lab.testing.prometheus import MissingComponent, Service

REGION = "us-east-1"


def server_python(user: ServerUser | None) -> tuple[str, list[str]]:
    """An interpreter the server's user may run, and the folders moto is installed in."""
    packages = list(dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [Path(sys.executable).resolve(), Path("/usr/bin") / version]
    if user is None:
        return sys.executable, packages
    interpreter = next((c for c in candidates if c.exists() and user.can_reach(c)), None)
    if interpreter is None:
        raise MissingComponent(
            f"no {version} that user {user.name} may run (Debian: apt-get install {version})"
        )
    closed = [folder for folder in packages if not user.can_reach(Path(folder))]
    if closed:
        raise MissingComponent(f"user {user.name} cannot reach moto's installation in {closed[0]}")
    return str(interpreter), packages


class S3Server(Service):
    """moto's S3 server with one bucket; `env` holds the AWS variables that reach it."""

    name = "moto_server"

    def __init__(self, bucket: str = "incident-lab-team") -> None:
        super().__init__("incident_lab_moto_")
        self.bucket = bucket
        # Any key works with moto; random ones let a test look for them where they must not be.
        self.access_key = f"AKIA{secrets.token_hex(8).upper()}"
        self.secret_key = secrets.token_urlsafe(30)
        register_secret(self.secret_key)

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
        }

    def start(self) -> S3Server:
        try:
            import moto.server  # noqa: F401  (only to say what is missing before starting it)
        except ImportError:
            raise MissingComponent("moto is not installed: pip install 'moto[server]'") from None
        python, packages = server_python(self.user)
        self.port = free_port()
        environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(packages), "HOME": str(self.root)}
        self._spawn([python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], environment)
        self._wait(f"{self.endpoint}/moto-api/")
        self.create_bucket(self.bucket)
        return self

    def create_bucket(self, bucket: str) -> None:
        """A new bucket (a plain unsigned PUT: moto does not check signatures)."""
        with urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/{bucket}", method="PUT")):
            pass

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
