"""What starting a server for the demo, the tests and the benchmarks needs: a free port on
loopback, and, when we are root, a user of its own to run it as.

PostgreSQL and PgBouncer refuse to run as root, and no server we start should have
root's rights anyway. As root, servers run as the system user `incident_lab` with
its own group and no supplementary groups (`subprocess` with `user=` alone would
keep the root group and its rights). That user must reach the server's binaries:
where they sit under a folder closed to others (a virtual environment in root's
home, or in a `mktemp -d` folder), they are copied once into a folder of their own
rather than opening the user's folders.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incident_lab.exceptions import IncidentLabError

SERVER_USER = "incident_lab"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


@dataclass(frozen=True)
class ServerUser:
    """The unprivileged user (and group) servers run as when we are root."""

    name: str
    uid: int
    gid: int

    def process_options(self) -> dict[str, Any]:
        """`subprocess` options that drop to this user, its group, and no other group."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def hand_over(self, path: Path) -> None:
        """Give a folder (and everything in it) or a file to this user."""
        os.chown(path, self.uid, self.gid)
        if path.is_dir():
            for folder, names, files in os.walk(path):
                for name in [*names, *files]:
                    os.chown(os.path.join(folder, name), self.uid, self.gid, follow_symlinks=False)

    def can_reach(self, path: Path) -> bool:
        """Whether this user may walk down to `path`: every folder above it must let
        others through, since the user owns none of them and is in none of their groups."""
        for folder in [*reversed(path.resolve().parents), path.resolve()]:
            mode = folder.stat()
            if mode.st_uid == self.uid:
                continue
            if stat.S_ISDIR(mode.st_mode) and not mode.st_mode & stat.S_IXOTH:
                return False
        return True


def server_user() -> ServerUser | None:
    """As root, the user servers run as (created, with a group of its own, if missing);
    otherwise None: servers run as whoever we are."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        if not shutil.which("useradd"):
            raise IncidentLabError(
                f"running as root, but there is no useradd to create the user {SERVER_USER} to run servers as"
            ) from None
        command = ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        subprocess.run([*command, SERVER_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(SERVER_USER)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise IncidentLabError(f"user {SERVER_USER} has root's uid or group: servers must not run with them")
    return ServerUser(SERVER_USER, entry.pw_uid, entry.pw_gid)


def scratch_dir(prefix: str, user: ServerUser | None) -> Path:
    """A new private folder for a server's data, owned by the user it runs as, in a place
    that user can reach (the usual temporary folder, else /tmp)."""
    parent = Path(tempfile.gettempdir())
    if user is not None and not user.can_reach(parent):
        parent = Path("/tmp")
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    if user is not None:
        user.hand_over(folder)
    return folder


def reachable_install(install: Path, also: Sequence[Path], user: ServerUser | None) -> Path:
    """`install` (a server's folder of bin/, lib/, share/…), or, where `user` cannot reach
    it, a copy that it can: root-owned, read-only to others, kept for the next start.

    Folders in `also` are copied beside it, keeping their places relative to `install`'s
    parent's parent (a wheel's `NAME.libs`, found by the binaries' relative RPATH)."""
    if user is None or user.can_reach(install):
        return install
    base = install.parent.parent
    stamp = f"{install.resolve()}:{install.stat().st_mtime_ns}"
    cache = Path("/tmp") / f"incident_lab_install_{hashlib.sha256(stamp.encode()).hexdigest()[:16]}"
    copied = cache / install.relative_to(base)
    if cache.is_dir() and _trusted(cache):
        return copied
    staging = Path(tempfile.mkdtemp(prefix="incident_lab_install_", dir="/tmp"))
    try:
        for source in [install, *also]:
            shutil.copytree(source, staging / source.relative_to(base), symlinks=True)
        for folder, _, _ in os.walk(staging):
            os.chmod(folder, 0o755)
        try:
            staging.rename(cache)
        except OSError:  # another start copied it first: use that one, if it can be trusted
            shutil.rmtree(staging, ignore_errors=True)
            if not _trusted(cache):
                raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return copied


def _trusted(folder: Path) -> bool:
    """A copy another process left in /tmp is used only if root owns it and only root can write it."""
    mode = folder.lstat()
    return (
        stat.S_ISDIR(mode.st_mode) and mode.st_uid == 0 and not mode.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )
