"""The embedded PostgreSQL as root runs under a user and group of its own, with no other
group, wherever its binaries sit; the demo works as root from a folder closed to others,
and as a normal user; and a stopped server leaves nothing behind."""

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from incident_lab.embedded import EmbeddedPostgres, postgres_bin_dir
from incident_lab.services import SERVER_USER

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="these cases are about running as root")


def closed_copy_of_the_binaries(folder: Path) -> Path:
    """pgserver's install (and the libraries beside it) inside a folder only root may enter,
    as a virtual environment in root's home or in a `mktemp -d` folder is."""
    folder.mkdir(mode=0o700)
    install = postgres_bin_dir().parent
    site = folder / "site"
    shutil.copytree(install, site / install.parent.name / install.name, symlinks=True)
    libs = install.parent.parent / f"{install.parent.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name, symlinks=True)
    return site / install.parent.name / install.name / "bin"


def process_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


@as_root
def test_as_root_the_server_runs_as_its_own_user_and_group_and_no_other(tmp_path, monkeypatch):
    closed = tmp_path / "closed"
    monkeypatch.setenv("INCIDENT_LAB_PG_BIN", str(closed_copy_of_the_binaries(closed)))
    with EmbeddedPostgres() as server:
        postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        status = process_status(postmaster)
        user = pwd.getpwnam(SERVER_USER)
        assert status["Uid"].split() == [str(user.pw_uid)] * 4
        assert status["Gid"].split() == [str(user.pw_gid)] * 4
        assert status["Groups"].strip() == ""
        assert user.pw_uid != 0 and user.pw_gid != 0
        assert not str(server.bin_dir).startswith(str(closed))  # a copy it can reach
    assert oct(closed.stat().st_mode & 0o777) == "0o700"  # the user's folder was left as it was


def test_a_server_whose_postmaster_died_still_leaves_no_folder_behind():
    server = EmbeddedPostgres().start()
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{postmaster}").exists() and "Z" not in process_status(postmaster).get("State", "Z"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    server.stop()
    assert not server.root.exists()


README = Path(__file__).resolve().parents[1] / "README.md"
DEMO_COMMAND = re.search(r"```sh\n(python3 -m venv .*?incident-lab demo)\n```", README.read_text())[1]
DEBIAN_PYTHON = Path("/usr/bin/python3")
NORMAL_USER = "incident_lab_tester"


def copy_of_the_checkout(folder: Path) -> Path:
    """The project's files (as git sees them, committed or not) in a folder of their own."""
    root = README.parent
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True, text=True, check=True
    )
    for name in listed.stdout.splitlines():
        if (root / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, folder / name)
    return folder


def run_the_readme_demo(checkout: Path, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", DEMO_COMMAND], cwd=checkout, capture_output=True, text=True, timeout=600, **options
    )


def assert_the_demo_found_the_lock(shown: subprocess.CompletedProcess[str], checkout: Path) -> None:
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert "Traceback" not in shown.stderr and "PermissionError" not in shown.stderr
    verdicts = [line for line in shown.stderr.splitlines() if line.startswith("A  ")]
    assert verdicts and "True" in verdicts[0]  # lock contention, confirmed
    assert (checkout / shown.stdout.strip().splitlines()[-1]).is_file()


@as_root
def test_the_readme_demo_as_root_from_a_folder_closed_to_others(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    checkout = copy_of_the_checkout(closed)
    assert_the_demo_found_the_lock(run_the_readme_demo(checkout), checkout)
    assert oct(closed.stat().st_mode & 0o777) == "0o700"  # nothing opened the user's folder


@pytest.fixture
def normal_user_home():
    """A home folder of a user who is not root (ourselves, when we are not), and the options
    that run a command as that user, with a PATH of the system's own Python."""
    home = Path(tempfile.mkdtemp(prefix="incident_lab_home_", dir="/tmp"))
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    options: dict[str, object] = {"env": environment}
    if os.geteuid() == 0:
        if not DEBIAN_PYTHON.exists():
            pytest.skip(f"as root, a normal user needs a Python it can run: {DEBIAN_PYTHON} is missing")
        if subprocess.run(["id", NORMAL_USER], capture_output=True, check=False).returncode:
            subprocess.run(
                ["useradd", "--system", "--user-group", "--no-create-home", NORMAL_USER], check=True
            )
        user = pwd.getpwnam(NORMAL_USER)
        os.chown(home, user.pw_uid, user.pw_gid)
        options |= {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    try:
        yield home, options
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_the_readme_demo_as_a_normal_user(normal_user_home):
    home, options = normal_user_home
    checkout = copy_of_the_checkout(home / "incident_lab")
    if "user" in options:
        for path in [checkout, *checkout.rglob("*")]:
            os.chown(path, options["user"], options["group"])  # type: ignore[arg-type]
    assert_the_demo_found_the_lock(run_the_readme_demo(checkout, **options), checkout)
