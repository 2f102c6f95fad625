"""The version-specific SQL, on every PostgreSQL this machine has: the bundled server and
any Debian-installed one. The migration signatures must read the same on each."""

from pathlib import Path

import pytest

from incident_lab import run, scenarios
from incident_lab.embedded import EmbeddedPostgres, postgres_bin_dir
from incident_lab.verdict import Verdict

INSTALLED = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
BINARIES = [postgres_bin_dir(), *(folder for folder in INSTALLED if (folder / "postgres").exists())]


@pytest.mark.parametrize("bin_dir", BINARIES, ids=lambda folder: str(folder))
def test_migration_signatures_on_each_installed_postgresql(bin_dir, monkeypatch):
    monkeypatch.setenv("INCIDENT_LAB_PG_BIN", str(bin_dir))
    with EmbeddedPostgres() as server:
        dsn = server.create_database("shop")
        with scenarios.migration_holds_lock(dsn, readers=2) as migration:
            holds = run("postgres.lock_contention", dsn)
        with scenarios.migration_queued(dsn, readers=2) as (old, queued):
            waits = run("postgres.lock_contention", dsn)
        quiet = run("postgres.lock_contention", dsn)
    assert holds.verdict is Verdict.TRUE and f"migration pid {migration}" in holds.summary
    assert holds.metric("max_wait_seconds") > 0
    assert (
        waits.verdict is Verdict.TRUE
        and f"migration pid {queued} waits for ACCESS EXCLUSIVE" in waits.summary
    )
    assert f"behind pid {old}" in waits.summary
    assert quiet.verdict is Verdict.FALSE
