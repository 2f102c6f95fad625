"""The probe model: results round-trip, parameters are checked first, failures are inconclusive."""

import sys
import textwrap
import time

import pandas as pd
import pytest

from incident_lab import (
    DuplicateProbeError,
    ParameterError,
    Result,
    Table,
    TargetError,
    UnknownProbeError,
    run,
)
from incident_lab.registry import PATH_VARIABLE, PROBE_ENTRY_POINTS, Registry, load_registry
from incident_lab.verdict import Verdict

CATALOGUE = {
    "postgres.lock_contention",
    "postgres.idle_in_transaction",
    "postgres.long_transactions",
    "postgres.connection_saturation",
    "postgres.deadlocks",
    "postgres.replication_lag",
    "postgres.recent_migration",
}


def test_result_json_round_trips_losslessly(database):
    from incident_lab import scenarios

    with scenarios.migration_holds_lock(database, readers=2):
        result = run("postgres.lock_contention", database)
    text = result.to_json()
    again = Result.from_json(text)
    assert again == result
    assert again.to_json() == text
    assert set(result.to_dict()) >= {
        "probe",
        "hypothesis",
        "verdict",
        "summary",
        "test",
        "target",
        "started_at",
        "duration_ms",
        "params",
        "evidence",
        "metrics",
        "error",
    }
    assert result.started_at.endswith("Z")
    frame = again.table("blocking_tree").frame
    assert isinstance(frame, pd.DataFrame) and len(frame) == 3


def test_evidence_from_a_dataframe_keeps_meaning_in_json_values():
    frame = pd.DataFrame(
        {
            "pid": [1, 2],
            "wait": [0.5, float("nan")],
            "at": pd.to_datetime(["2026-11-28T14:05:00Z", "2026-11-28T14:06:00Z"]),
        }
    )
    table = Table.from_frame("t", frame)
    assert table.rows == ((1, 0.5, "2026-11-28T14:05:00.000Z"), (2, None, "2026-11-28T14:06:00.000Z"))
    assert Table.from_dict(table.to_dict()) == table


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_wait": 1}, "has no parameter 'min_wait'"),
        ({"min_wait_seconds": "soon"}, "must be float"),
        ({"all_databases": "perhaps"}, "must be bool"),
        ({"budget_seconds": 0}, "must be at least 0.1"),
        ({"budget_seconds": 1e308}, "at most 3600"),
    ],
)
def test_bad_parameters_are_rejected_before_anything_connects(params, message):
    # The target does not exist: reaching it would give an inconclusive result, not an error.
    with pytest.raises(ParameterError, match=message):
        run("postgres.lock_contention", "postgresql://app@127.0.0.1:1/shop", params)


def test_parameters_given_as_text_are_coerced_to_their_types(database):
    result = run("postgres.lock_contention", database, {"min_wait_seconds": "2.5", "all_databases": "yes"})
    assert result.params == {"min_wait_seconds": 2.5, "all_databases": True, "budget_seconds": 10.0}


def test_unknown_probe_and_malformed_target_are_usage_errors():
    with pytest.raises(UnknownProbeError, match=r"postgres\.nothing"):
        run("postgres.nothing", "service=shop")
    with pytest.raises(TargetError, match="malformed PostgreSQL target"):
        run("postgres.lock_contention", "postgresql://app:pw@[::1")
    with pytest.raises(TargetError, match="SHOP_DSN is not set"):
        run("postgres.lock_contention", "env:SHOP_DSN")


def test_a_target_from_an_environment_variable_shows_only_its_redacted_label(monkeypatch):
    monkeypatch.setenv("SHOP_DSN", "postgresql://app:hunter2hunter2@127.0.0.1:1/shop")
    result = run("postgres.lock_contention", "env:SHOP_DSN", {"budget_seconds": 3})
    assert result.target == "postgresql://app@127.0.0.1:1/shop"
    assert "hunter2hunter2" not in result.to_json()


def test_the_builtin_catalogue_is_registered_by_stable_ids():
    assert {probe.id for probe in load_registry()} >= CATALOGUE


def write_probe_module(folder, name, probe_id, body="return refuted('nothing to see')"):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(
        textwrap.dedent(f"""
        from typing import Annotated
        from incident_lab import probe, refuted, inconclusive

        @probe({probe_id!r}, hypothesis="h", test="t", target="postgres")
        def check(db, *, limit: Annotated[int, "a limit"] = 3):
            {body}
    """)
    )


def test_a_team_folder_of_probes_is_loaded_by_option_and_environment(tmp_path, monkeypatch):
    write_probe_module(tmp_path / "team", "cache", "team.cache_stampede")
    write_probe_module(tmp_path / "env", "queue", "team.queue_backlog")
    monkeypatch.setenv(PATH_VARIABLE, str(tmp_path / "env"))
    registry = load_registry([tmp_path / "team"])
    assert "team.cache_stampede" in registry and "team.queue_backlog" in registry
    assert "probe path" in registry.get("team.cache_stampede").source
    assert [p.name for p in registry.get("team.cache_stampede").params] == ["limit", "budget_seconds"]


def test_two_probes_with_one_id_name_both_sources(tmp_path):
    write_probe_module(tmp_path / "a", "first", "postgres.lock_contention")
    with pytest.raises(DuplicateProbeError) as error:
        load_registry([tmp_path / "a"])
    assert "the built-in catalogue" in str(error.value) and "first.py" in str(error.value)


def test_installed_packages_add_probes_through_the_entry_point_group(tmp_path, monkeypatch):
    write_probe_module(tmp_path / "site", "vendor_probes", "vendor.disk_full")
    dist = tmp_path / "site" / "vendor_probes-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vendor-probes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{PROBE_ENTRY_POINTS}]\nvendor = vendor_probes\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry = Registry()
    registry.load_entry_points()
    assert "vendor.disk_full" in registry
    assert "entry point vendor = vendor_probes of vendor-probes" in registry.get("vendor.disk_full").source
    sys.modules.pop("vendor_probes", None)


def test_an_exception_inside_a_probe_is_inconclusive_and_never_false(tmp_path, database):
    write_probe_module(tmp_path / "p", "broken", "team.broken", body="raise RuntimeError('disk on fire')")
    result = run("team.broken", database, registry=load_registry([tmp_path / "p"]))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.error == "RuntimeError: disk on fire"
    assert "disk on fire" in result.summary


def test_a_probe_that_overruns_its_budget_is_inconclusive_at_the_budget(tmp_path, database):
    write_probe_module(
        tmp_path / "p", "slow", "team.slow", body="import time; time.sleep(5); return refuted('late')"
    )
    started = time.monotonic()
    result = run("team.slow", database, {"budget_seconds": 0.5}, registry=load_registry([tmp_path / "p"]))
    assert time.monotonic() - started < 1.5
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "budget of 0.5 s" in result.summary


def test_repr_and_json_never_show_a_password():
    result = run(
        "postgres.lock_contention",
        "host=127.0.0.1 port=1 user=app password=Zebra-Crossing-42",
        {"budget_seconds": 3},
    )
    assert "Zebra-Crossing-42" not in repr(result) + result.to_json()
    assert result.target == "postgresql://app@127.0.0.1:1/"


def test_service_names_pgpass_and_pgpassword_supply_what_the_reference_leaves_out(
    database, tmp_path, monkeypatch
):
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(database)
    if "password" not in parts:
        pytest.skip("the server under INCIDENT_LAB_TEST_DSN asks for no password")
    where = {name: parts[name] for name in ("host", "port", "dbname", "user")}
    (tmp_path / "pg_service.conf").write_text("[shop]\n" + "".join(f"{k}={v}\n" for k, v in where.items()))
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(
        f"{where['host']}:{where['port']}:{where['dbname']}:{where['user']}:{parts['password']}\n"
    )
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGSERVICEFILE", str(tmp_path / "pg_service.conf"))
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    by_service = run("postgres.lock_contention", "shop")
    assert by_service.verdict is Verdict.FALSE, by_service.summary
    assert by_service.target == "service=shop"
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    monkeypatch.setenv("PGPASSWORD", parts["password"])
    keywords = " ".join(f"{k}={v}" for k, v in where.items())
    assert run("postgres.lock_contention", keywords).verdict is Verdict.FALSE
    monkeypatch.delenv("PGPASSWORD")
    assert (
        run("postgres.lock_contention", keywords).verdict is Verdict.INCONCLUSIVE
    )  # no password from anywhere
