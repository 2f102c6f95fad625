"""One hypothesis across a fleet of twenty real databases, one of them sick: the probe's
table and JSON lines, the report's matrix, and a dead member that costs only its budget."""

import json
import re
import socket
import threading
import time

import pytest

from incident_lab import scenarios
from incident_lab.testing.postgres import create_database, drop_database

SHARDS = 20
SICK = 7  # shard7 has a migration holding a lock


@pytest.fixture(scope="module")
def fleet(postgres_server):
    names = [create_database(postgres_server, prefix=f"shard{n}") for n in range(1, SHARDS + 1)]
    try:
        yield [postgres_server.dsn(name) for name in names]
    finally:
        for name in names:
            drop_database(postgres_server, name)


@pytest.fixture
def silent_server():
    """A TCP listener that accepts and never answers: a server that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"postgresql://app:pw@127.0.0.1:{listener.getsockname()[1]}/shop?connect_timeout=30"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def targets(fleet):
    return [argument for n, dsn in enumerate(fleet, start=1) for argument in ("--target", f"shard{n}={dsn}")]


def test_the_probe_over_the_fleet_names_the_one_sick_shard(cli, fleet):
    with scenarios.migration_holds_lock(fleet[SICK - 1], readers=2):
        shown = cli("probe", "postgres.lock_contention", *targets(fleet), "--concurrency", "8")
        as_json = cli("probe", "postgres.lock_contention", *targets(fleet), "--json")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [line.split()[0] for line in lines[2 : 2 + SHARDS]] == [f"shard{n}" for n in range(1, SHARDS + 1)]
    assert lines[2 + SICK - 1].split()[1] == "True"
    assert "shard7 is the only one where “Database lock contention" in shown.stdout
    assert "is True (the other 19 are False)" in shown.stdout
    results = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["target_name"] for r in results] == [f"shard{n}" for n in range(1, SHARDS + 1)]
    assert [r["verdict"] for r in results] == [n == SICK for n in range(1, SHARDS + 1)]


def test_a_dead_member_is_inconclusive_within_its_budget_while_the_others_complete(cli, fleet, silent_server):
    started = time.monotonic()
    shown = cli(
        "probe",
        "postgres.lock_contention",
        *targets(fleet[:5]),
        "--target",
        f"dead={silent_server}",
        "--param",
        "budget_seconds=2",
        "--json",
    )
    took = time.monotonic() - started
    assert shown.returncode == 0, shown.stderr
    results = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [r["target_name"] for r in results] == [f"shard{n}" for n in range(1, 6)] + ["dead"]
    assert [r["verdict"] for r in results] == [False] * 5 + [None]
    # Whichever gives up first, the budget's watchdog or the connect_timeout it sets, says how long.
    assert re.search(r"within (its budget of )?2 s", results[-1]["summary"]), results[-1]["summary"]
    assert took < 2 + 6  # the dead one's budget, and a start-up; never the 30 s connect timeout


def test_the_report_of_a_fleet_has_its_matrix_with_the_odd_one_out(cli, fleet, tmp_path):
    group = ",".join(fleet)
    with scenarios.migration_holds_lock(fleet[SICK - 1], readers=2):
        shown = cli(
            *("run", "--incident", "Checkout failing on one shard", "--severity", "High"),
            *("--target", f"shards=postgres:{group}", "--hypothesis", "postgres.lock_contention"),
            *("--archive", str(tmp_path)),
        )
    assert shown.returncode == 0, shown.stderr
    (run,) = tmp_path.glob("*/run-001")
    results = json.loads((run / "results.json").read_text())["results"]
    assert [r["target_name"] for r in results] == [f"shards/{n}" for n in range(1, SHARDS + 1)]
    assert [r["verdict"] for r in results] == [n == SICK for n in range(1, SHARDS + 1)]
    report = (run / "report.html").read_text()
    assert "Across the fleet" in report and 'class="il-fleet"' in report
    assert "shards/7 is the only one where" in report and "(the other 19 are False)" in report
    matrix = report[report.index('class="il-fleet"') :]
    assert matrix.count("outline:2px solid") == 1  # one cell marked: shard7's
    assert (
        'href="#il-hypothesis-g"' in matrix and 'id="il-hypothesis-g"' in report
    )  # a click from its evidence
