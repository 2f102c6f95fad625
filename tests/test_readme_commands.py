"""The README's own commands, as a user types them, against a real PostgreSQL named by the
service `shop` (a pg_service.conf and PGPASSWORD, as the README says passwords come).

Only the waits are shortened (`--every 30s` becomes half a second). `incident-lab lab`
starts JupyterLab: the browser tests run it. The PgBouncer and Prometheus commands run
in their own tests, against those servers; so do the alert commands (tests/test_alert_run.py,
tests/test_alert_listen.py)."""

import re
import shlex
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
ELSEWHERE = (
    "incident-lab lab",
    "pgbouncer",
    "prometheus",
    "demo",
    "pip install",
    "--alert",
    "listen",
    "s3://",
)


def readme_commands(only: str = "") -> list[str]:
    """The README's commands; with `only`, those holding it, which the others leave out."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = line.split("  #")[0].strip()
            if not command.startswith("incident-lab "):
                continue
            if (only in command) if only else not any(word in command for word in ELSEWHERE):
                commands.append(command)
    return commands


@pytest.fixture
def shop_service(database, tmp_path, monkeypatch):
    parts = conninfo_to_dict(database)
    where = {name: parts[name] for name in ("host", "port", "dbname", "user")}
    services = tmp_path / "pg_service.conf"
    services.write_text("[shop]\n" + "".join(f"{key}={value}\n" for key, value in where.items()))
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    monkeypatch.setenv("PGPASSWORD", str(parts["password"]))
    monkeypatch.setenv("INCIDENT_LAB_ARCHIVE", str(tmp_path / "archive"))
    monkeypatch.chdir(tmp_path)
    # `--probe-path team-probes/` reads the folder holding the README's example pattern.
    (tmp_path / "team-probes").mkdir()
    example = re.search(r"```yaml\n(id: team\..*?)```", README, re.S).group(1)
    (tmp_path / "team-probes" / "orders-locked.yaml").write_text(example)
    return tmp_path


def test_the_readme_lists_the_commands_this_test_runs():
    commands = readme_commands()
    assert any(c.startswith("incident-lab run ") for c in commands)
    assert any(c.startswith("incident-lab watch ") for c in commands)
    assert any(c.startswith("incident-lab verify ") for c in commands)
    assert sum(c.startswith("incident-lab probe ") for c in commands) >= 2


def test_every_readme_command_runs_as_written(cli, shop_service):
    archive = shop_service / "archive"
    for command in readme_commands():
        words = shlex.split(command.replace("--every 30s", "--every 0.5s"))
        if words[1] in ("show", "verify") and "2026-11-28-checkout-failing" in command:
            folder = next(p.name for p in archive.iterdir() if p.name.endswith("checkout-failing"))
            words = [word.replace("2026-11-28-checkout-failing", folder) for word in words]
        shown = cli(*words[1:])
        assert shown.returncode == 0, (command, shown.stderr[-2000:])
        assert "Traceback" not in shown.stderr, command


def test_the_readme_commands_on_a_bucket_run_as_written(cli, shop_service, s3_server, monkeypatch):
    """The team-archive section's commands, on moto's S3 server, reached through the AWS
    variables alone; the bucket is the test's, the commands otherwise as written."""
    commands = readme_commands("s3://team-incidents/archive")
    assert [c.split()[1] for c in commands] == ["run", "list", "show"]
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    s3_server.create_bucket("team-incidents")
    for command in commands:
        shown = cli(*shlex.split(command)[1:])
        assert shown.returncode == 0, (command, shown.stderr[-2000:])
    report = shown.stdout.strip().splitlines()[-1]
    assert report.startswith("s3://team-incidents/archive/") and report.endswith("/run-001/report.html")
