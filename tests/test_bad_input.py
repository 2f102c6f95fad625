"""Tried as a hostile but fair tester would: every user mistake is one line and exit 2,
every unusable environment one line and exit 1, never a traceback; nothing archived is
lost or overwritten; no secret in any placement reaches any file or output; nothing a
database says reaches the terminal raw; and archived evidence can be verified."""

import base64
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from conftest import ctrl_c_as_from_a_terminal, wait_for_a_probe_session
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from incident_lab import scenarios

LOCK = "postgres.lock_contention"


def one_line(shown, code):
    assert shown.returncode == code, (shown.returncode, shown.stdout, shown.stderr)
    assert "Traceback" not in shown.stderr + shown.stdout
    lines = shown.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("incident-lab: error: "), shown.stderr
    return lines[0]


def run_args(archive, *extra, incident="Checkout failing"):
    return ["run", "--incident", incident, "--severity", "High", "--archive", str(archive), *extra]


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def archived(cli, database, tmp_path):
    """An archive holding one run of the incident."""
    archive = tmp_path / "archive"
    shown = cli(*run_args(archive, "--target", f"postgres={database}", "--hypothesis", LOCK))
    assert shown.returncode == 0, shown.stderr
    return archive


# Parameters, targets and dates


@pytest.mark.parametrize(
    ("probe", "param", "message"),
    [
        ("postgres.deadlocks", "min_deadlocks=-1", "min_deadlocks must be at least 1"),
        ("postgres.deadlocks", "window_seconds=-10", "window_seconds must be at least 0.1"),
        ("postgres.deadlocks", "window_seconds=30", "window_seconds must be shorter than budget_seconds"),
        ("http.error_rate", "requests=100000000", "requests must be at least 1, at most 1000"),
        ("http.error_rate", "method=POST", "method must be one of GET, HEAD"),
    ],
)
def test_parameters_out_of_bounds_are_refused_before_anything_connects(cli, probe, param, message):
    target = (
        "postgres=postgresql://app@127.0.0.1:1/shop"
        if probe.startswith("postgres")
        else "http=http://127.0.0.1:1/"
    )
    started = time.monotonic()
    assert message in one_line(cli("probe", probe, "--target", target, "--param", param), 2)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("postgres", "must look like NAME=VALUE"),
        (
            "postgres=postgresql://app@db:abc/shop",
            "target postgres ('postgresql://app@db:abc/shop'): malformed PostgreSQL target: port 'abc'",
        ),
        ("postgres=host=db port=99999", "target postgres ('host=db port=99999'): malformed"),
        ("postgres=dbname=shop", "target postgres ('dbname=shop'): PostgreSQL target names no server"),
        (
            "http=http://shop.example.com/health check",
            "target http ('http://shop.example.com/health check'): URL contains whitespace",
        ),
        ("http=http://shop.example.com/\r\nX-Injected: 1", "target http ('http://shop.example.com/\\r\\n"),
        ("primary=postgres:", "empty reference"),
    ],
)
def test_malformed_targets_are_refused_naming_the_problem_and_nothing_is_archived(
    cli, tmp_path, target, message
):
    archive = tmp_path / "archive"
    assert message in one_line(cli(*run_args(archive, "--target", target)), 2)
    assert not archive.exists() or not [p for p in archive.rglob("run-*")]


@pytest.mark.parametrize("date", ["20261128", "2026-W48-6", "2026-02-30", "28/11/2026"])
def test_dates_are_strictly_year_month_day(cli, tmp_path, date):
    assert "YYYY-MM-DD" in one_line(
        cli(*run_args(tmp_path, "--date", date, "--target", "postgres=service=x")), 2
    )


def test_incident_names_that_lose_their_letters_never_share_a_folder():
    from incident_lab.archive.store import incident_folder_name

    names = [
        "!!!",
        "???",
        "🔥🔥",
        "🚨",
        "Checkout failing!",
        "Checkout failing?",
        "x" * 70 + "a",
        "x" * 70 + "b",
    ]
    folders = {incident_folder_name(name, "2026-11-28") for name in names}
    assert len(folders) == len(names)
    assert incident_folder_name("Checkout failing", "2026-11-28") == "2026-11-28-checkout-failing"
    assert all(len(folder) <= 11 + 60 for folder in folders)


# Parameters files


def test_a_deeply_nested_parameters_file_is_one_line(cli, tmp_path):
    nested = tmp_path / "nested.yaml"
    nested.write_text("incident: x\nseverity: High\nhypotheses: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in one_line(cli(*run_args(tmp_path, "-f", str(nested))), 2)
    shallow_but_deep = tmp_path / "deep.yaml"
    shallow_but_deep.write_text("incident: x\nseverity: High\ntargets: " + "[" * 40 + "]" * 40 + "\n")
    assert "nested more than 32 levels" in one_line(cli(*run_args(tmp_path, "-f", str(shallow_but_deep))), 2)


def test_a_huge_parameters_file_is_refused_at_once(cli, tmp_path):
    huge = tmp_path / "huge.yaml"
    with huge.open("w") as handle:
        handle.write("incident: x\nnotes: |\n")
        handle.write(("  " + "a" * 998 + "\n") * 100_000)  # 100 MB
    started = time.monotonic()
    assert "larger than 1024 KiB" in one_line(cli(*run_args(tmp_path / "archive", "-f", str(huge))), 2)
    assert time.monotonic() - started < 5
    assert not (tmp_path / "archive").exists()


# Archives that cannot be used


def test_an_archive_that_is_a_file_or_under_a_file_is_a_usage_error(cli, tmp_path):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    assert "is a file, not a folder" in one_line(cli(*run_args(a_file, "--target", "postgres=service=x")), 2)
    under = a_file / "archive"
    assert "which is a file" in one_line(cli(*run_args(under, "--target", "postgres=service=x")), 2)
    assert "is a file" in one_line(cli("list", "--archive", str(a_file)), 2)


needs_mount = pytest.mark.skipif(
    os.geteuid() != 0, reason="making a full or read-only disk takes mount, as root"
)


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of its own, to fill up or to make read-only."""
    folder = tmp_path / "disk"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@needs_mount
def test_a_full_disk_is_one_line_exit_1_and_changes_nothing_archived(cli, database, small_disk):
    archive = small_disk / "archive"
    first = cli(*run_args(archive, "--target", f"postgres={database}", "--hypothesis", LOCK))
    assert first.returncode == 0, first.stderr
    before = files_of(archive)
    filler = small_disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True, check=False)
    line = one_line(cli(*run_args(archive, "--target", f"postgres={database}", "--hypothesis", LOCK)), 1)
    assert "KiB free, too little for a run" in line
    after = files_of(archive)
    assert {k: v for k, v in after.items() if not k.startswith(".")} == {
        k: v for k, v in before.items() if not k.startswith(".")
    }
    assert not list((archive / ".staging").iterdir())


@needs_mount
def test_a_read_only_archive_is_one_line_exit_1(cli, database, small_disk):
    archive = small_disk / "archive"
    assert cli(*run_args(archive, "--target", f"postgres={database}", "--hypothesis", LOCK)).returncode == 0
    before = files_of(archive)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    line = one_line(cli(*run_args(archive, "--target", f"postgres={database}", "--hypothesis", LOCK)), 1)
    assert "Read-only file system" in line
    assert files_of(archive) == before
    listed = cli("list", "--archive", str(archive))
    assert listed.returncode == 0 and "run-001" in listed.stdout


@needs_mount
def test_a_watch_that_cannot_archive_keeps_its_rounds_and_says_where(cli, database, small_disk):
    archive = small_disk / "archive"
    assert cli(*run_args(archive, "--target", f"postgres={database}", "--hypothesis", LOCK)).returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    shown = cli(
        "watch", "Checkout failing", "--every", "0.2s", "--max-rounds", "2", "--archive", str(archive)
    )
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    assert shown.stdout.count("round ") == 2  # the rounds were watched and printed
    kept = Path(shown.stderr.strip().splitlines()[-1].rpartition(" kept in ")[2])
    assert kept.is_file()
    assert [r["label"] for r in json.loads(kept.read_text())["rounds"]][-2:] == [
        "watch round 1",
        "watch round 2",
    ]
    kept.unlink()


# Damaged archives


def test_damaged_runs_are_listed_as_damaged_and_passed_over(cli, archived):
    (incident,) = [p for p in archived.iterdir() if not p.name.startswith(".")]
    shutil.copytree(incident / "run-001", incident / "run-002")
    (incident / "run-002" / "summary.json").write_text("{not json")
    shutil.copytree(incident / "run-001", incident / "run-003")
    (incident / "run-003" / "results.json").write_text('{"incident": 3}')
    (incident / "run-004").mkdir()
    listed = cli("list", "--archive", str(archived))
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert "run-002  damaged: summary.json cannot be read" in listed.stdout
    assert "run-004  damaged: summary.json is missing" in listed.stdout
    shown = cli("show", "Checkout failing", "--archive", str(archived))  # the latest readable run
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    assert "run-001 completed" in shown.stdout
    assert "run-003 is damaged: results.json is not what a run writes" in shown.stderr
    assert "is damaged" in one_line(cli("show", "Checkout failing/run-003", "--archive", str(archived)), 1)
    named = cli("show", "Checkout failing/run-002", "--archive", str(archived))  # its results still read
    assert named.returncode == 0 and "note: run-002 is damaged: summary.json cannot be read" in named.stderr
    watched = cli(
        "watch", "Checkout failing", "--every", "0.1s", "--max-rounds", "1", "--archive", str(archived)
    )
    assert "Traceback" not in watched.stderr


def test_paths_given_by_users_never_leave_the_archive(cli, archived):
    for name, said in [
        ("Checkout failing/../../../../etc", "not a run"),
        ("Checkout failing/run-001/../../x", "not a run"),
        ("../etc/run-001", "not a run"),
        ("..", "no incident"),
        ("/etc", "not a run"),
    ]:
        assert said in one_line(cli("show", name, "--archive", str(archived)), 2)


# Secrets in every placement


def test_no_secret_in_any_placement_reaches_any_file_or_output(
    cli, database, database_password, tmp_path, provider_standin
):
    archive = tmp_path / "archive"
    token, key, sig, amz, pgword = (
        "Tok3nSecretAA",
        "K3ySecretBB",
        "S1gSecretCC",
        "AmzSecretDD",
        "PgW0rdSecretEE",
    )
    params = tmp_path / "params.yaml"
    params.write_text(
        "incident: Secrets everywhere\nseverity: Low\n"
        "targets:\n"
        f"  postgres: {database}\n"
        "  fromenv: postgres:env:INCIDENT_LAB_TEST_SECRET_DSN\n"
        f"  web: http:{provider_standin.root}/http/ok?token={token}\n"
        f"  replica: postgres:postgresql://app:{pgword}@replica.internal/shop\n"
        f"  conninfo: postgres:host=db password={pgword} dbname=shop\n"
        f"  unused_http: http:https://cdn.example.com/a.js?api_key={key}&sig={sig}\n"
        f"  s3: http:https://bucket.s3.amazonaws.com/x?X-Amz-Signature={amz}&X-Amz-Credential=AKIA{amz}\n"
        "hypotheses:\n"
        f"  - {{probe: {LOCK}, target: postgres}}\n"
        f"  - {{probe: {LOCK}, target: fromenv, title: Locks on the replica}}\n"
        "  - {probe: http.error_rate, target: web, params: {requests: 2}}\n"
    )
    environment = {**os.environ, "INCIDENT_LAB_TEST_SECRET_DSN": database}
    shown = cli("run", "-f", str(params), "--archive", str(archive), env=environment)
    prepared = cli("new", "-f", str(params), "--archive", str(archive), env=environment)
    assert shown.returncode == 0, shown.stderr
    assert prepared.returncode == 0, prepared.stderr
    assert "target postgres: its secret was not written" in prepared.stderr
    assert "PGPASSWORD, ~/.pgpass, a pg_service.conf service" in prepared.stderr
    assert "target web: its secret was not written to the notebook; give the whole URL" in prepared.stderr
    assert (
        "target replica: its secret was not written to the notebook; no hypothesis uses it" in prepared.stderr
    )
    secrets = [token, key, sig, amz, pgword, database_password]
    outputs = shown.stdout + shown.stderr + prepared.stdout + prepared.stderr
    assert not [secret for secret in secrets if secret in outputs]
    files = [p for p in archive.rglob("*") if p.is_file()]
    leaks = [(secret, str(p)) for p in files for secret in secrets if secret.encode() in p.read_bytes()]
    assert len(files) >= 10 and leaks == []
    results = json.loads(next(archive.rglob("results.json")).read_text())["results"]
    assert [r["verdict"] for r in results] == [False, False, False]  # every secret still reached its kernel


@dataclass
class Placements:
    """Every way a kind's targets can carry a secret, for one run (`-f params.yaml`, targets
    used and unused), one `probe` per placement (`--target` on the command line) and the
    references that must be refused; and the secrets, none of which may show anywhere."""

    probe: str
    params: list[str]  # the probe's parameters, NAME=VALUE
    targets: dict[str, str]  # name: value, as written in params.yaml
    used: dict[str, bool | None]  # target name: the verdict that shows its secret reached it
    secrets: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    # One `probe` run each: the `--target` value, changes to the environment (None: unset), and
    # the verdict that shows the secret reached the target (None: inconclusive, as unreachable)
    probed: list[tuple[str, dict[str, str | None], bool | None]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # `--target` values that are usage errors


def unreachable(url: str, port: int) -> str:
    """The same reference pointing at a port nothing listens on."""
    return re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", url, count=1)


def postgres_placements(request: pytest.FixtureRequest, port: int) -> Placements:
    database = request.getfixturevalue("database")
    parts = conninfo_to_dict(database)
    password = str(parts.pop("password"))
    conninfo = make_conninfo("", **parts)
    bare = database.replace(f":{quote(password)}@", "@")
    fake = ["PgUnreachableSecret1", "PgUnusedSecret2", "PgUnusedSecret3", "PgRefusedSecret4"]
    pgpass = Path(request.getfixturevalue("tmp_path")) / "pgpass"
    pgpass.write_text(f"127.0.0.1:{parts['port']}:*:{parts['user']}:{password}\n")
    pgpass.chmod(0o600)
    return Placements(
        probe=LOCK,
        params=[],
        targets={
            "uri": f"postgres:{database}",
            "query": f"postgres:{bare}?password={quote(password)}",
            "conninfo": f"postgres:{make_conninfo(conninfo, password=password)}",
            "fromenv": "postgres:env:INCIDENT_LAB_TEST_SECRET_DSN",
            "down": f"postgres:{unreachable(database, port).replace(quote(password), fake[0])}",
            "unused_uri": f"postgres:postgresql://app:{fake[1]}@replica.internal/shop",
            "unused_conninfo": f"postgres:host=db password={fake[2]} dbname=shop",
        },
        used={
            "uri": False,
            "query": False,
            "conninfo": False,
            "fromenv": False,
            "down": None,
        },
        secrets=[password, *fake],
        environment={"INCIDENT_LAB_TEST_SECRET_DSN": database},
        probed=[
            (database, {}, False),
            (f"postgres={bare}?password={quote(password)}", {}, False),
            ("postgres=env:INCIDENT_LAB_TEST_SECRET_DSN", {}, False),
            (f"postgres={conninfo}", {"PGPASSWORD": password}, False),
            (f"postgres={conninfo}", {"PGPASSFILE": str(pgpass), "PGPASSWORD": None}, False),
            (unreachable(database, port).replace(quote(password), fake[0]), {}, None),
        ],
        refused=[f"postgres=app:{fake[3]}@127.0.0.1/shop", f"postgres=host=db port=x password={fake[3]}"],
    )


def pgbouncer_placements(request: pytest.FixtureRequest, port: int) -> Placements:
    bouncer = request.getfixturevalue("pgbouncer")
    console = bouncer.console_dsn()
    parts = conninfo_to_dict(console)
    password = str(parts.pop("password"))
    conninfo = make_conninfo("", **parts)
    fake = ["BouncerUnreachable1", "BouncerUnused2", "BouncerRefused3"]
    return Placements(
        probe="pgbouncer.pool_saturation",
        params=[],
        targets={
            "uri": f"pgbouncer:{console}",
            "conninfo": f"pgbouncer:{make_conninfo(conninfo, password=password)}",
            "fromenv": "pgbouncer:env:INCIDENT_LAB_TEST_SECRET_DSN",
            "down": f"pgbouncer:{unreachable(console, port).replace(quote(password), fake[0])}",
            "unused": f"pgbouncer:postgresql://stats:{fake[1]}@bouncer.internal/pgbouncer",
        },
        used={"uri": False, "conninfo": False, "fromenv": False, "down": None},
        secrets=[password, bouncer.admin_password, *fake],
        environment={"INCIDENT_LAB_TEST_SECRET_DSN": console},
        probed=[
            (f"pgbouncer={console}", {}, False),
            ("pgbouncer=env:INCIDENT_LAB_TEST_SECRET_DSN", {}, False),
            (f"pgbouncer={conninfo}", {"PGPASSWORD": password}, False),
            (f"pgbouncer={unreachable(console, port).replace(quote(password), fake[0])}", {}, None),
        ],
        refused=[f"pgbouncer=stats:{fake[2]}@127.0.0.1/pgbouncer"],
    )


def http_placements(request: pytest.FixtureRequest, port: int) -> Placements:
    root = request.getfixturevalue("provider_standin").root
    fake = [f"HttpSecret{n}" for n in range(9)]
    return Placements(
        probe="http.error_rate",
        params=["requests=2"],
        targets={
            "token": f"http:{root}/http/ok?token={fake[0]}",
            "api_key": f"http:{root}/http/ok?api_key={fake[1]}&page=1",
            "fromenv": "http:env:INCIDENT_LAB_TEST_SECRET_URL",
            "down": f"http:{unreachable(root, port)}/http/ok?access_token={fake[3]}",
            "unused_sig": f"http:https://cdn.example.com/a.js?api_key={fake[4]}&sig={fake[5]}",
            "unused_s3": f"http:https://b.s3.amazonaws.com/x?X-Amz-Signature={fake[6]}&X-Amz-Credential=AKIA{fake[6]}",
        },
        used={"token": False, "api_key": False, "fromenv": False, "down": None},
        secrets=fake,
        environment={"INCIDENT_LAB_TEST_SECRET_URL": f"{root}/http/ok?signature={fake[2]}"},
        probed=[
            (f"http={root}/http/ok?key={fake[7]}", {}, False),
            ("http=env:INCIDENT_LAB_TEST_SECRET_URL", {}, False),
            (f"http={unreachable(root, port)}/?token={fake[3]}", {}, None),
        ],
        refused=[
            f"http=http://user:{fake[8]}@127.0.0.1/",
            f"http=http://127.0.0.1/a b?token={fake[8]}",
            f"http=ftp://127.0.0.1/?sig={fake[8]}",
        ],
    )


def llm_placements(request: pytest.FixtureRequest, port: int) -> Placements:
    standin = request.getfixturevalue("provider_standin")
    reference = standin.reference("openai-headroom")
    key, admin, fake = "sk-LlmKeySecret0000AA", "LlmAdminSecret11", [f"LlmSecret{n}" for n in range(4)]
    return Placements(
        probe="llm.token_quota",
        params=[],
        targets={
            "agent": f"llm:{reference}",
            "down": f"llm:{unreachable(reference, port)}",
            "unused": f"llm:openai@https://gw.example/v1?api_key={fake[0]}",
        },
        used={"agent": False, "down": None},
        secrets=[key, admin, *fake],
        environment={"OPENAI_API_KEY": key, "OPENAI_ADMIN_KEY": admin, "ANTHROPIC_API_KEY": fake[1]},
        probed=[(f"llm={reference}", {}, False), (f"llm={unreachable(reference, port)}", {}, None)],
        refused=[
            f"llm=openai@{standin.url('openai-headroom')}?api_key={fake[2]}",
            f"llm={standin.root.replace('://', f'://me:{fake[3]}@')}/v1",
        ],
    )


def prometheus_placements(request: pytest.FixtureRequest, port: int) -> Placements:
    from conftest import incident_history

    history, *_ = incident_history(time.time())
    password, token, fake = PROM_PASSWORD, "PromTokenSecret1", [f"PromSecret{n}" for n in range(5)]
    pair = base64.b64encode(f"oncall:{password}".encode()).decode()
    server = request.getfixturevalue("prometheus_server")(
        history=history,
        web_config=f"basic_auth_users:\n  oncall: {PROM_PASSWORD_HASH}\n",
        ready_headers={"Authorization": f"Basic {pair}"},
    )
    basic = f"{server.url} user=oncall password=env:INCIDENT_LAB_TEST_PROM_PASSWORD"
    bearer = f"{server.url} token=env:INCIDENT_LAB_TEST_PROM_TOKEN"
    return Placements(
        probe="prometheus.threshold",
        params=['query=http_requests_error_ratio{service="checkout"}', "above=0.1"],
        targets={
            "basic": f"prometheus:{basic}",
            "bearer": f"prometheus:{bearer}",  # refused by this server: sent all the same
            "down": f"prometheus:{unreachable(bearer, port)}",
            "unused_token": f"prometheus:http://prom.internal:9090 token={fake[0]}",
            "unused_basic": f"prometheus:http://prom.internal:9090 user=me password={fake[1]}",
        },
        used={"basic": True, "bearer": None, "down": None},
        secrets=[password, pair, token, *fake],
        environment={
            "INCIDENT_LAB_TEST_PROM_PASSWORD": password,
            "INCIDENT_LAB_TEST_PROM_TOKEN": token,
        },
        probed=[
            (f"prometheus={basic}", {}, True),
            (f"prometheus={bearer}", {}, None),
            (f"prometheus={unreachable(bearer, port)}", {}, None),
        ],
        refused=[
            f"prometheus={server.url} token={fake[2]}",
            f"prometheus={server.url} user=oncall password={fake[3]}",
            f"prometheus={server.url}/?token={fake[4]}",
        ],
    )


PLACEMENTS = {
    "postgres": postgres_placements,
    "pgbouncer": pgbouncer_placements,
    "http": http_placements,
    "llm": llm_placements,
    "prometheus": prometheus_placements,
}
# A basic-auth password and its bcrypt hash, for Prometheus's web config (as in test_prometheus_probes).
PROM_PASSWORD = "canary-basic-pw-3141"
PROM_PASSWORD_HASH = "$2b$12$bgI5u6q0cMKWFjKk.WeQfuOV62MMIXCPA5oGEHA9jq5iP8M0DZBbK"


@pytest.mark.parametrize("kind", sorted(PLACEMENTS))
def test_every_placement_of_every_kinds_secret_stays_out_of_every_file_and_output(
    cli, request, tmp_path, free_port, kind
):
    placed = PLACEMENTS[kind](request, free_port)
    archive = tmp_path / "archive"
    params = tmp_path / "params.yaml"
    used = [
        {"probe": placed.probe, "target": name, "params": dict(p.split("=", 1) for p in placed.params)}
        for name in placed.used
    ]
    params.write_text(
        yaml.safe_dump(
            {
                "incident": f"Secrets of {kind}",
                "severity": "Low",
                "targets": placed.targets,
                "hypotheses": used,
            }
        )
    )
    # No PGPASSWORD or .pgpass from outside: each password must come from its own placement.
    outside = {name: value for name, value in os.environ.items() if name not in ("PGPASSWORD", "PGPASSFILE")}
    environment = {**outside, "PGPASSFILE": str(tmp_path / "no-pgpass"), **placed.environment}
    shown = [cli("run", "-f", str(params), "--archive", str(archive), env=environment)]
    shown.append(cli("new", "-f", str(params), "--archive", str(archive), env=environment))
    assert [s.returncode for s in shown] == [0, 0], [s.stderr for s in shown]
    for target, changes, verdict in placed.probed:
        changed = {name: value for name, value in {**environment, **changes}.items() if value is not None}
        args = [
            "probe",
            placed.probe,
            "--target",
            target,
            *[a for p in placed.params for a in ("--param", p)],
        ]
        text, as_json = cli(*args, "--show-test", env=changed), cli(*args, "--json", env=changed)
        assert text.returncode == as_json.returncode == 0 and "Traceback" not in text.stderr, text.stderr
        result = json.loads(as_json.stdout.splitlines()[-1])
        assert result["verdict"] is verdict, (target, result["summary"])  # the secret reached it, or not
        shown += [text, as_json]
    for target in placed.refused:
        refused = cli("probe", placed.probe, "--target", target, env=environment)
        assert "target " in one_line(refused, 2)
        shown.append(refused)
    outputs = "".join(s.stdout + s.stderr for s in shown)
    files = [p for p in archive.rglob("*") if p.is_file()]
    assert len(files) >= 10
    leaks = [(secret, "output") for secret in placed.secrets if secret in outputs]
    leaks += [
        (secret, str(p)) for p in files for secret in placed.secrets if secret.encode() in p.read_bytes()
    ]
    assert leaks == []
    results = json.loads(next(archive.rglob("results.json")).read_text())["results"]
    verdicts = {r["target_name"]: r["verdict"] for r in results}
    assert verdicts == placed.used, [(r["target_name"], r["summary"]) for r in results]


# Signals


def slow_run(cli, database, archive):
    args = run_args(archive, "--target", f"postgres={database}")
    args += ["--hypothesis", "postgres.deadlocks:window_seconds=15,budget_seconds=30"]
    return subprocess.Popen(
        [cli.command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_as_from_a_terminal,
    )


def kernels_of(process_id: int) -> list[str]:
    found = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if "ipykernel" in line and f" {process_id} " in f" {line} "]


@pytest.mark.parametrize(
    ("sent", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_during_a_run_leaves_one_line_no_staging_and_no_kernel(
    cli, database, tmp_path, sent, code, word
):
    archive = tmp_path / "archive"
    running = slow_run(cli, database, archive)
    wait_for_a_probe_session(database, running)
    assert kernels_of(running.pid)
    time.sleep(1)  # inside the probe's 15 s sampling window
    running.send_signal(sent)
    _, errors = running.communicate(timeout=60)
    assert running.returncode == code, errors
    assert "Traceback" not in errors and errors.strip().splitlines()[-1] == f"incident-lab: error: {word}"
    assert "[IPKernelApp]" not in errors
    assert not list((archive / ".staging").iterdir())
    assert not [p for p in archive.rglob("run-*") if p.is_dir()]
    time.sleep(1)
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    assert not [line for line in processes if "ipykernel" in line and str(archive) in line]


# Concurrent runs, terminal output, verification


def test_concurrent_runs_of_one_incident_each_record_the_number_they_got(cli, database, tmp_path):
    archive = tmp_path / "archive"
    args = run_args(
        archive, "--target", f"postgres={database}", "--hypothesis", "postgres.connection_saturation"
    )
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(lambda _: cli(*args), range(3)))
    assert all(o.returncode == 0 for o in outcomes), [o.stderr for o in outcomes]
    (incident,) = [p for p in archive.iterdir() if not p.name.startswith(".")]
    runs = sorted(p for p in incident.iterdir() if p.name.startswith("run-"))
    assert [p.name for p in runs] == ["run-001", "run-002", "run-003"]
    for run in runs:
        assert json.loads((run / "results.json").read_text())["rounds"][0]["label"] == run.name
    assert not (incident / ".claims").exists()  # every claim released


def test_control_characters_from_a_database_reach_the_terminal_escaped(cli, database, tmp_path):
    archive = tmp_path / "archive"
    hostile = "SELECT count(*) FROM orders /*\x1b[2J\x1b[H ALL CLEAR \x9b31m*/"
    with scenarios.migration_holds_lock(database, table="orders", readers=1, reader_statement=hostile):
        probed = cli("probe", LOCK, "--target", f"postgres={database}")
        as_json = cli("probe", LOCK, "--target", f"postgres={database}", "--json")
        ran = cli(*run_args(archive, "--target", f"postgres={database}", "--hypothesis", LOCK))
    shown = cli("show", "Checkout failing", "--archive", str(archive))
    for output in (probed.stdout, as_json.stdout, ran.stdout + ran.stderr, shown.stdout):
        assert "\x1b" not in output and "\x9b" not in output
    assert "\\x1b[2J" in probed.stdout
    assert json.loads(as_json.stdout)["verdict"] is True  # still a JSON object, escaped the JSON way


def test_an_archived_run_verifies_and_every_change_is_named(cli, archived):
    (run,) = archived.glob("*/run-001")
    intact = cli("verify", "Checkout failing", "--archive", str(archived))
    assert intact.returncode == 0 and "run-001: intact" in intact.stdout
    manifest = json.loads((run / "manifest.json").read_text())
    assert set(manifest["files"]) >= {"report.html", "results.json", "summary.json", "investigation.ipynb"}
    assert manifest["python"] and manifest["incident_lab"]
    assert manifest["servers"][0]["server"].startswith("PostgreSQL ")
    (run / "report.html").write_text("<p>nothing happened</p>")
    (run / "metrics.csv").unlink()
    (run / "extra.txt").write_text("planted")
    changed = cli("verify", "Checkout failing/run-001", "--archive", str(archived))
    assert changed.returncode == 1
    assert "changed report.html; missing metrics.csv; added extra.txt" in changed.stdout
