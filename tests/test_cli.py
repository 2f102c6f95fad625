"""The `incident-lab` command as people type it: verdicts on stdout, one-line usage errors."""

import json

from incident_lab import scenarios


def test_probes_lists_the_catalogue_with_parameters(cli):
    listed = cli("probes")
    assert listed.returncode == 0
    assert "postgres.lock_contention  [postgres]" in listed.stdout
    assert "--param min_wait_seconds=0.0  (float)" in listed.stdout


def test_probe_prints_verdict_summary_and_evidence(database, cli, database_password):
    with scenarios.migration_holds_lock(database, readers=2) as migration:
        shown = cli("probe", "postgres.lock_contention", "--target", f"postgres={database}")
    assert shown.returncode == 0, shown.stderr
    assert "Verdict: TRUE (confirmed)" in shown.stdout
    assert f"migration pid {migration}" in shown.stdout
    assert "blocking_tree:" in shown.stdout and "root_blockers:" in shown.stdout
    password = database_password
    assert password not in shown.stdout + shown.stderr


def test_probe_json_prints_exactly_one_result_object(database, cli):
    shown = cli(
        "probe",
        "postgres.lock_contention",
        "--target",
        f"postgres={database}",
        "--param",
        "min_wait_seconds=1",
        "--json",
    )
    assert shown.returncode == 0
    result = json.loads(shown.stdout)
    assert result["verdict"] is False and result["params"]["min_wait_seconds"] == 1.0


def test_unreachable_target_still_exits_zero_with_an_inconclusive_verdict(cli):
    shown = cli(
        "probe",
        "postgres.deadlocks",
        "--target",
        "postgres=postgresql://app:Tr0ub4dor-3@127.0.0.1:1/shop",
        "--json",
    )
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["verdict"] is None
    assert "Tr0ub4dor-3" not in shown.stdout + shown.stderr


def test_usage_errors_are_one_line_and_exit_2(cli):
    cases = {
        ("probe", "postgres.nope", "--target", "postgres=service=x"): "unknown probe id 'postgres.nope'",
        (
            "probe",
            "postgres.lock_contention",
            "--target",
            "postgres=service=x",
            "--param",
            "x=1",
        ): "has no parameter 'x'",
        (
            "probe",
            "postgres.lock_contention",
            "--target",
            "postgres=service=x",
            "--param",
            "min_wait_seconds=later",
        ): "min_wait_seconds must be float",
        (
            "probe",
            "postgres.lock_contention",
            "--target",
            "postgres=postgresql://a:Sekrit-99@[x",
        ): "malformed PostgreSQL target",
        ("probe", "postgres.lock_contention"): "the following arguments are required: --target",
        ("frobnicate",): "invalid choice: 'frobnicate'",
    }
    for args, message in cases.items():
        shown = cli(*args)
        assert shown.returncode == 2, args
        assert shown.stdout == ""
        assert shown.stderr.count("\n") == 1 and message in shown.stderr, shown.stderr
        assert "Traceback" not in shown.stderr and "Sekrit-99" not in shown.stderr
