"""A team's own target kind, installed as a package with entry points: a real dist-info on
the path, a real SQLite file as the target, run from `incident-lab probe` and inside
`incident-lab run`, with the kind's own default hypotheses."""

import json
import os
import sqlite3
import textwrap

import pytest

from incident_lab.exceptions import DuplicateKindError
from incident_lab.registry import KIND_ENTRY_POINTS, PROBE_ENTRY_POINTS, Registry
from incident_lab.verdict import Verdict

KIND = '''
"""The `sqlite` kind: a SQLite database file, opened read-only."""

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from incident_lab import DefaultHypothesis, TargetError, TargetKind


class SqliteSession:
    def __init__(self, path):
        self.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        self.tested = []

    def execute(self, sql):
        self.tested.append(sql)
        return self.connection.execute(sql).fetchall()

    def cancel(self):
        self.connection.interrupt()


@dataclass(frozen=True)
class SqliteTarget:
    path: Path
    label: str

    @contextmanager
    def session(self, probe, budget_seconds):
        session = SqliteSession(self.path)
        try:
            yield session
        finally:
            session.connection.close()


class SqliteKind(TargetKind):
    name = "sqlite"
    description = "a SQLite database file"
    default_hypotheses = (DefaultHypothesis("sqlite.integrity"),)

    def parse(self, reference):
        path = Path(reference).expanduser()
        if not path.is_file():
            raise TargetError(f"no SQLite file at {path}")
        return SqliteTarget(path, f"sqlite:{path.name}")


KIND = SqliteKind()
'''

PROBES = '''
"""Hypothesis: the database file is damaged."""

from incident_lab import Table, confirmed, probe, refuted


@probe("sqlite.integrity", hypothesis="Data integrity: the database file is damaged",
       test="PRAGMA quick_check", target="sqlite", symptom="Data Integrity")
def integrity(db):
    problems = [row[0] for row in db.execute("PRAGMA quick_check") if row[0] != "ok"]
    evidence = [Table("quick_check", ("problem",), tuple((p,) for p in problems))]
    if problems:
        return confirmed(f"{len(problems)} problems: {problems[0]}", evidence=evidence)
    return refuted("quick_check found the file sound.", evidence=evidence)
'''


def install(site, name="team_sqlite", kind_module=KIND):
    package = site / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(kind_module))
    (package / "probes.py").write_text(textwrap.dedent(PROBES))
    dist = site / f"{name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{KIND_ENTRY_POINTS}]\nsqlite = {name}:KIND\n\n[{PROBE_ENTRY_POINTS}]\nsqlite = {name}.probes\n"
    )


@pytest.fixture
def shop_file(tmp_path):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE orders (id integer PRIMARY KEY, total real)")
        connection.executemany("INSERT INTO orders VALUES (?, ?)", [(i, i * 1.5) for i in range(100)])
    return path


@pytest.fixture
def with_team_kind(tmp_path):
    site = tmp_path / "site"
    install(site)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
    }


def test_the_installed_kind_is_listed_with_its_source_and_its_probe_runs(cli, with_team_kind, shop_file):
    listed = cli("kinds", env=with_team_kind)
    assert listed.returncode == 0, listed.stderr
    assert "sqlite  (entry point sqlite = team_sqlite:KIND of team-sqlite" in listed.stdout
    assert "default hypotheses: sqlite.integrity" in listed.stdout
    assert "sqlite.integrity  [sqlite]" in cli("probes", env=with_team_kind).stdout

    shown = cli(
        "probe", "sqlite.integrity", "--target", f"shop=sqlite:{shop_file}", "--json", env=with_team_kind
    )
    assert shown.returncode == 0, shown.stderr
    result = json.loads(shown.stdout)
    assert result["verdict"] is False and result["kind"] == "sqlite" and result["target_name"] == "shop"
    assert result["target"] == "sqlite:shop.db" and result["test"] == "PRAGMA quick_check"

    missing = cli("probe", "sqlite.integrity", "--target", "shop=sqlite:/no/such.db", env=with_team_kind)
    assert missing.returncode == 2 and "no SQLite file at /no/such.db" in missing.stderr


def test_inside_run_the_kind_brings_its_default_hypotheses_into_the_report(
    cli, with_team_kind, shop_file, tmp_path
):
    archive = tmp_path / "archive"
    shown = cli(
        "run",
        *("--incident", "Orders look wrong", "--severity", "High"),
        *("--target", f"orders=sqlite:{shop_file}", "--archive", str(archive)),
        env=with_team_kind,
    )
    assert shown.returncode == 0, shown.stderr
    (run,) = archive.glob("*/run-001")
    document = json.loads((run / "results.json").read_text())
    assert [(r["probe"], r["target_name"], Verdict.from_json(r["verdict"])) for r in document["results"]] == [
        ("sqlite.integrity", "orders", Verdict.FALSE)
    ]
    assert document["incident"]["targets"] == {"orders": f"sqlite:{shop_file}"}
    report = (run / "report.html").read_text()
    assert (
        "Data integrity: the database file is damaged" in report
        and "quick_check found the file sound" in report
    )


def test_two_packages_registering_one_kind_name_both(tmp_path, monkeypatch):
    install(tmp_path / "site", "team_sqlite")
    install(
        tmp_path / "site",
        "other_sqlite",
        KIND.replace("class SqliteKind", "class OtherSqliteKind").replace(
            "KIND = SqliteKind()", "KIND = OtherSqliteKind()"
        ),
    )
    (tmp_path / "site" / "other_sqlite" / "probes.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry = Registry()
    with pytest.raises(DuplicateKindError) as error:
        registry.load_entry_points()
    message = str(error.value)
    assert "target kind sqlite is defined twice" in message
    assert "of team-sqlite" in message and "of other-sqlite" in message
