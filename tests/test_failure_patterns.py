"""Failure patterns through `incident-lab run` into the archived report, on real systems:
each built-in pattern matched by one scenario and ruled out by another (real PostgreSQL
sessions, the provider stand-in over HTTP), a team's own pattern from a folder, and a bad
pattern file refused with one line and exit code 2. Several patterns share a run where
one scenario serves them, to keep the suite affordable."""

import contextlib
import html
import json
import os
import re
import shlex
import threading
import time
from pathlib import Path

import psycopg
import pytest
import yaml
from conftest import add_migration_history

from incident_lab import scenarios
from incident_lab.embedded import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PLACEHOLDERS = (
    "Add circuit breaker to X service",
    "Update runbook for Y scenario",
    "Add test case for Z condition",
)
BUILT_IN = {path.stem for path in (ROOT / "patterns").glob("*.yaml")}
KEYS = {
    "OPENAI_API_KEY": "canary-openai-patterns-5e1b",
    "ANTHROPIC_API_KEY": "canary-anthropic-patterns-77c0",
}

MATCHED, RULED_OUT, OPEN = "matched", "ruled out", "open"


class Run:
    """One archived run, read as a person would: results.json, the report, the catalogue."""

    def __init__(self, report: Path) -> None:
        self.dir = report.parent
        self.document = json.loads((self.dir / "results.json").read_text())
        self.report = report.read_text()
        self.text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", self.report)).split())
        self.patterns = {m["pattern"]: m for m in self.document["patterns"]}

    def standing(self, pattern: str) -> str:
        return self.patterns[pattern]["status"]

    def related(self) -> str:
        """The report's Related Patterns list, as text."""
        return self.text.split("Related Patterns:")[1]

    def contain(self) -> str:
        return self.text.split("Contain:")[1].split("Communicate:")[0]

    def corrective(self) -> str:
        return self.text.split("Corrective Actions (P0/P1):")[1].split("Related Patterns:")[0]

    def check(self, matched: set[str], ruled_out: set[str]) -> None:
        """Exactly `matched` match; `ruled_out` are ruled out; the report says so, cites the
        evidence, fills Contain and Corrective Actions, and its links open offline."""
        assert {p for p, m in self.patterns.items() if m["status"] == MATCHED} == matched, self.patterns
        for pattern in ruled_out:
            assert self.standing(pattern) == RULED_OUT, self.patterns[pattern]
        related = self.related()
        for pattern in matched | ruled_out:
            word = "Matched:" if pattern in matched else "Ruled out:"
            assert f"{word} {self.patterns[pattern]['title']}" in related, pattern
        for pattern in matched:
            for citation in self.patterns[pattern]["evidence"]:
                assert citation["detail"][:60] in related, citation
        assert not any(placeholder in self.text for placeholder in PLACEHOLDERS)
        if matched & BUILT_IN:
            assert "Pattern " in self.contain()
            assert "(pattern " in self.corrective()
        links = re.findall(r'href="(failure-patterns\.md[^"]*)"', self.report)
        assert links, "the report links to no failure-patterns.md"
        catalogue = (self.dir / "failure-patterns.md").read_text()
        for link in links:
            _, _, anchor = link.partition("#")
            assert not anchor or f'<a id="{anchor}"></a>' in catalogue, link


def run(cli, tmp_path, name, targets, hypotheses, *options, env=None) -> Run:
    params = tmp_path / f"{name}.yaml"
    params.write_text(
        yaml.safe_dump({"incident": name, "severity": "High", "targets": targets, "hypotheses": hypotheses})
    )
    shown = cli(*options, "run", "-f", str(params), "--archive", str(tmp_path / "archive"), env=env)
    assert shown.returncode == 0, shown.stderr
    return Run(Path(shown.stdout.strip()))


def readme_section() -> str:
    return README.split("## Failure patterns")[1].split("\n## ")[0]


def team_folder(tmp_path) -> Path:
    """A team's probe folder holding the README's example pattern."""
    folder = tmp_path / "team-probes"
    folder.mkdir(exist_ok=True)
    example = re.search(r"```yaml\n(.*?)```", readme_section(), re.S).group(1)
    (folder / "orders-locked.yaml").write_text(example)
    return folder


POSTGRES = ["postgres.lock_contention", "postgres.recent_migration"]
QUIET = {"postgres.deadlocks": {"window_seconds": 1}}
DEADLOCK_WINDOW = {"postgres.deadlocks": {"window_seconds": 8}}


def hypotheses(*probes, **params):
    return [{"probe": probe, "params": {**QUIET.get(probe, {}), **params.get(probe, {})}} for probe in probes]


def test_a_migration_holding_its_lock_matches_that_pattern_the_trigger_and_the_teams_own(
    database, tmp_path, cli
):
    add_migration_history(database, "4 minutes")
    folder = team_folder(tmp_path)
    chosen = hypotheses(
        *POSTGRES,
        "postgres.idle_in_transaction",
        "postgres.long_transactions",
        "postgres.deadlocks",
        "postgres.connection_saturation",
        "postgres.replication_lag",
    )
    with scenarios.migration_holds_lock(database, table="orders", readers=3) as migration:
        archived = run(
            cli, tmp_path, "Migration holds", {"postgres": database}, chosen, "--probe-path", str(folder)
        )
    archived.check(
        {
            "postgres.migration-holds-access-exclusive",
            "postgres.recent-migration-trigger",
            "team.orders-table-locked",
        },
        {
            "postgres.ddl-queued-behind-long-transaction",
            "postgres.idle-in-transaction-holding-locks",
            "postgres.long-transaction-xmin-horizon",
            "postgres.deadlock-lock-order",
            "postgres.connection-exhaustion",
            "postgres.replication-lag-stale-reads",
        },
    )
    assert (
        f"root_pid {migration}, migration true, holds ACCESS EXCLUSIVE on public.orders, "
        "blocking reads and writes" in archived.related()
    )
    assert "Turn on the checkout maintenance banner" in archived.contain()  # the team's own action
    # `show` reads the matches from results.json, with their evidence.
    shown = cli("show", "Migration holds", "--archive", str(tmp_path / "archive"))
    assert shown.returncode == 0, shown.stderr
    assert "matched: postgres.migration-holds-access-exclusive" in shown.stdout
    assert f"root_blockers: root_pid {migration}" in shown.stdout
    assert "ruled out: postgres.ddl-queued-behind-long-transaction" in shown.stdout


def test_a_migration_queued_behind_an_old_transaction_matches_queued_ddl_not_access_exclusive(
    database, tmp_path, cli
):
    add_migration_history(database, "3 days")
    chosen = hypotheses(
        *POSTGRES,
        "postgres.idle_in_transaction",
        "postgres.long_transactions",
        **{
            "postgres.idle_in_transaction": {"min_idle_seconds": 0},
            "postgres.long_transactions": {"max_transaction_seconds": 0.2},
        },
    )
    with scenarios.migration_queued(database, table="orders", readers=3) as (old, migration):
        archived = run(cli, tmp_path, "Migration queued", {"postgres": database}, chosen)
    archived.check(
        {
            "postgres.ddl-queued-behind-long-transaction",
            "postgres.idle-in-transaction-holding-locks",
            "postgres.long-transaction-xmin-horizon",
        },
        {"postgres.migration-holds-access-exclusive", "postgres.recent-migration-trigger"},
    )
    queued = archived.patterns["postgres.ddl-queued-behind-long-transaction"]["evidence"][0]["detail"]
    assert queued.startswith(f"blocking_tree: pid {migration}, role queued migration")
    idle = archived.patterns["postgres.idle-in-transaction-holding-locks"]["evidence"][0]
    assert f"longest pid {old}" in idle["summary"] and idle["detail"].startswith("blocking_idle_sessions 1")


def test_a_healthy_database_matches_no_pattern_and_its_report_has_no_placeholder_action(
    database, tmp_path, cli
):
    add_migration_history(database, "3 days")
    chosen = hypotheses(
        *POSTGRES,
        "postgres.idle_in_transaction",
        "postgres.long_transactions",
        "postgres.deadlocks",
        "postgres.connection_saturation",
        "postgres.replication_lag",
        "postgres.wait_events",
    )
    archived = run(cli, tmp_path, "Healthy", {"postgres": database}, chosen)
    postgres = {p for p in BUILT_IN if p.startswith("postgres.")}
    archived.check(set(), postgres)
    assert {p for p, m in archived.patterns.items() if m["status"] == OPEN} == BUILT_IN - postgres
    assert "none yet: no failure pattern matched" in archived.corrective()
    assert "Pattern " not in archived.contain()


def llm_run(cli, tmp_path, name, standin, quota_cases, status_case, web_path, database, database_probes):
    """An agent's incident (its token limits and provider, its users' requests) with a
    database beside it, each probed through its own target."""
    targets = {"http": f"{standin.root}/{web_path}", "postgres": database}
    chosen = [{**hypothesis, "target": "postgres"} for hypothesis in database_probes]
    for index, case in enumerate(quota_cases):
        targets[f"agent{index}"] = f"llm:{standin.reference(case)}"
        chosen.append(
            {"title": f"Agent {index}: token limit", "probe": "llm.token_quota", "target": f"agent{index}"}
        )
    chosen += [
        {
            "probe": "llm.provider_status",
            "target": "agent0",
            "params": {"status_url": standin.url(status_case)},
        },
        {"probe": "http.error_rate", "target": "http", "params": {"requests": 8}},
    ]
    return run(cli, tmp_path, name, targets, chosen, env={**os.environ, **KEYS})


def test_an_agent_rate_limited_by_an_overloaded_provider_beside_a_full_database(
    provider_standin, tmp_path, cli
):
    """Token refusals, an overloaded provider and failing users match their patterns; the
    database (out of connections, its standby lost) matches exhaustion and stale reads."""
    with EmbeddedPostgres(max_connections=12, settings={"superuser_reserved_connections": "2"}) as primary:
        dsn = primary.create_database("shop")
        primary.standby("replica1").stop()  # its slot stays, with no standby streaming from it
        with scenarios.idle_connections(dsn, 8):
            archived = llm_run(
                cli,
                tmp_path,
                "Agent rate limited",
                provider_standin,
                ["openai-tpm-429", "anthropic-overloaded"],
                "status-major",
                "http/flaky/4/patterns",
                dsn,
                hypotheses("postgres.replication_lag", "postgres.connection_saturation"),
            )
    archived.check(
        {
            "llm.token-rate-exhaustion",
            "llm.provider-outage-or-overload",
            "http.upstream-error-spike",
            "postgres.connection-exhaustion",
            "postgres.replication-lag-stale-reads",
        },
        {"llm.hard-quota-or-spend-cap"},
    )
    outage = [c["probe"] for c in archived.patterns["llm.provider-outage-or-overload"]["evidence"]]
    assert sorted(outage) == ["llm.provider_status", "llm.token_quota"]  # the status page and the 529s
    assert "errors_rate_tokens" in archived.related()
    assert "slot replica1 has no standby streaming from it" in archived.related()
    for path in archived.dir.rglob("*"):
        if path.is_file():
            assert not any(key.encode() in path.read_bytes() for key in KEYS.values()), path


def test_an_agent_out_of_quota_while_transactions_deadlock(provider_standin, database, tmp_path, cli):
    """A spent quota matches the hard-quota pattern and rules out the rate, outage and
    user-impact ones; deadlocks during the window match the lock-order pattern."""
    finished = threading.Event()
    outcome = []

    def investigate():
        try:
            outcome.append(
                llm_run(
                    cli,
                    tmp_path,
                    "Agent out of quota",
                    provider_standin,
                    ["openai-insufficient-quota"],
                    "status-none",
                    "http/ok",
                    database,
                    hypotheses("postgres.deadlocks", **DEADLOCK_WINDOW),
                )
            )
        finally:
            finished.set()

    investigation = threading.Thread(target=investigate)
    investigation.start()
    while not finished.is_set():  # deadlocks keep coming while the run samples the counter
        scenarios.deadlock(database)
    investigation.join()
    (archived,) = outcome
    archived.check(
        {"llm.hard-quota-or-spend-cap", "postgres.deadlock-lock-order"},
        {"llm.token-rate-exhaustion", "llm.provider-outage-or-overload", "http.upstream-error-spike"},
    )
    assert "errors_hard_quota 1" in archived.related()
    (citation,) = archived.patterns["postgres.deadlock-lock-order"]["evidence"]
    assert citation["verdict"] is True and "deadlock" in citation["summary"]


BAD_PATTERN = """
id: team.broken
title: Broken
description: A pattern naming a probe nobody has.
evidence:
  - probe: team.no_such_probe
"""


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (BAD_PATTERN, "evidence[0].probe: unknown probe 'team.no_such_probe'"),
        (BAD_PATTERN.replace("evidence:", "evidense:"), "the file: unknown field 'evidense'"),
        ("id: [", "not valid YAML"),
    ],
    ids=["unknown probe", "unknown field", "not YAML"],
)
def test_a_bad_pattern_file_is_one_line_and_exit_2_before_anything_runs(tmp_path, cli, text, said):
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "broken.yaml").write_text(text)
    listed = cli("--probe-path", str(folder), "patterns")
    assert listed.returncode == 2 and listed.stdout == ""
    assert listed.stderr.count("\n") == 1, listed.stderr
    assert f"pattern file {folder / 'broken.yaml'}: " in listed.stderr and said in listed.stderr
    archive = tmp_path / "archive"
    ran = cli(
        "--probe-path",
        str(folder),
        "run",
        "--incident",
        "X",
        "--severity",
        "Low",
        "--target",
        "postgres=postgresql://a@127.0.0.1:1/x",
        "--archive",
        str(archive),
    )
    assert ran.returncode == 2 and ran.stderr == listed.stderr
    assert not archive.exists()


def test_the_readmes_pattern_commands_run_as_written(tmp_path, cli):
    folder = team_folder(tmp_path)
    commands = re.search(r"```sh\n(.*?)```", readme_section(), re.S).group(1)
    lines = [line.split("#")[0].strip() for line in commands.splitlines() if line.startswith("incident-lab")]
    assert len(lines) >= 3
    outputs = []
    for line in lines:
        words = shlex.split(line.replace("team-probes/", f"{folder}/"))[1:]
        shown = cli(*words)
        assert shown.returncode == 0, (line, shown.stderr)
        outputs.append(shown.stdout)
    listing = outputs[0]
    for pattern in BUILT_IN:
        assert pattern in listing
    assert "deciding probes: postgres.lock_contention" in listing
    assert any("Immediate actions (contain):" in output for output in outputs)
    team = json.loads(next(output for output in outputs if output.startswith("{")))
    assert team["id"] == "team.orders-table-locked" and team["source"].startswith(str(folder))


PACKAGED = """
id: {id}
title: Checkout answers 503
description: The checkout service fails users' requests.
evidence:
  - probe: http.error_rate
    conditions:
      - table: status_counts
        where: {{outcome: "503"}}
"""


def install_patterns(site, entry_points):
    """A package `team_patterns` shipping pattern files, installed with a real dist-info."""
    package = site / "team_patterns"
    (package / "more").mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from pathlib import Path\n\nFOLDER = Path(__file__).parent / 'more'\nNUMBER = 3\n"
    )
    (package / "checkout.yaml").write_text(PACKAGED.format(id="team.checkout-503"))
    (package / "more" / "checkout-again.yaml").write_text(PACKAGED.format(id="team.checkout-503-again"))
    dist = site / "team_patterns-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: team-patterns\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[incident_lab.patterns]\n" + entry_points)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
    }


def test_an_installed_package_ships_patterns_through_its_entry_points(tmp_path, cli):
    env = install_patterns(tmp_path / "site", "team = team_patterns\nmore = team_patterns:FOLDER\n")
    listed = cli("patterns", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "team.checkout-503\n" in listed.stdout and "team.checkout-503-again\n" in listed.stdout
    one = json.loads(cli("patterns", "team.checkout-503", "--json", env=env).stdout)
    assert one["source"].endswith("checkout.yaml (entry point team = team_patterns of team-patterns)")
    assert one["evidence"] == [
        {
            "probe": "http.error_rate",
            "verdict": True,
            "conditions": [{"table": "status_counts", "where": {"outcome": "503"}}],
        }
    ]
    wrong = install_patterns(tmp_path / "other", "odd = team_patterns:NUMBER\n")
    refused = cli("patterns", env=wrong)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "entry point odd = team_patterns:NUMBER of team-patterns names neither a package nor a folder" in (
        refused.stderr
    )


def test_new_puts_the_catalogue_beside_the_incidents_notebook(tmp_path, cli):
    folder = team_folder(tmp_path)
    shown = cli(
        *("--probe-path", str(folder), "new", "--incident", "Checkout failing", "--severity", "High"),
        *("--target", "postgres=service=shop", "--archive", str(tmp_path / "archive")),
    )
    assert shown.returncode == 0, shown.stderr
    notebook = Path(shown.stdout.strip().split(" lab ")[1])
    catalogue = (notebook.parent / "failure-patterns.md").read_text()
    assert '<a id="team.orders-table-locked"></a>' in catalogue
    assert '<a id="postgres.migration-holds-access-exclusive"></a>' in catalogue


def test_a_vacuum_waiting_on_a_buffer_pin_matches_the_wait_pattern_and_no_lock_pattern(
    database, tmp_path, cli
):
    chosen = hypotheses("postgres.wait_events", "postgres.lock_contention")
    with scenarios.vacuum_waits_for_buffer_pin(database):
        archived = run(cli, tmp_path, "Checkout slow", {"postgres": database}, chosen)
    archived.check(
        {"postgres.io-or-lwlock-saturation"},
        {"postgres.migration-holds-access-exclusive", "postgres.ddl-queued-behind-long-transaction"},
    )
    waits = archived.patterns["postgres.io-or-lwlock-saturation"]["evidence"][0]
    share = re.fullmatch(r"top_wait_share ([\d.]+) ratio", waits["detail"])
    assert share and float(share[1]) >= 0.5, waits  # what the pattern's condition asked
    assert "BufferPin waits take " in archived.text  # the wait_events result, in its section


@contextlib.contextmanager
def pool_exhausted(bouncer, clients=5):
    """`clients` clients of the transaction pool (pool_size 2) hold a transaction open each:
    three queue in PgBouncer for a server connection until they are closed."""
    holding = []
    try:
        for _ in range(clients):
            holding.append(psycopg.connect(bouncer.dsn("transaction"), autocommit=True))
            holding[-1].pgconn.send_query(b"BEGIN; SELECT pg_catalog.txid_current()")
        deadline = time.monotonic() + 15
        with psycopg.connect(bouncer.console_dsn(), autocommit=True, prepare_threshold=None) as console:
            while sum(r[3] for r in console.execute("SHOW POOLS").fetchall() if r[0] == "transaction") < 3:
                assert time.monotonic() < deadline, "three clients never queued"
                time.sleep(0.05)
        yield
    finally:
        for client in holding:
            client.close()


def test_clients_queued_in_pgbouncer_match_pool_exhaustion_and_an_idle_pool_rules_it_out(
    pgbouncer, tmp_path, cli
):
    target = {"bouncer": f"pgbouncer:{pgbouncer.console_dsn()}"}
    chosen = [{"probe": "pgbouncer.pool_saturation", "params": {"min_wait_seconds": 0.5}}]
    with pool_exhausted(pgbouncer):
        time.sleep(0.6)  # the longest wait passes min_wait_seconds before the run asks
        archived = run(cli, tmp_path, "Checkout timeouts", target, chosen)
    archived.check({"pgbouncer.pool-exhausted"}, set())
    assert "Pool transaction (user postgres, transaction mode) is exhausted" in archived.related()
    assert "Raise default_pool_size" in archived.contain()
    calm = run(cli, tmp_path, "Checkout calm", target, chosen)
    calm.check(set(), {"pgbouncer.pool-exhausted"})
    assert pgbouncer.stats_password not in calm.report + archived.report


def test_a_breach_still_holding_matches_both_prometheus_patterns_and_a_cleared_one_neither(
    incident_metrics, tmp_path, cli
):
    target = {"metrics": f"prometheus:{incident_metrics.url}"}
    checkout = 'http_requests_error_ratio{service="checkout"}'
    firing = [
        {"probe": "prometheus.threshold", "params": {"query": checkout, "above": 0.1}},
        {"probe": "prometheus.alert_expression", "params": {"expression": f"{checkout} > 0.1"}},
    ]
    archived = run(cli, tmp_path, "Checkout errors", target, firing)
    archived.check({"prometheus.metric-threshold-breached", "prometheus.alert-still-firing"}, set())
    assert "still_holding 1" in archived.related()
    cleared = [
        {
            "probe": "prometheus.threshold",
            "params": {"query": checkout.replace("checkout", "catalog"), "above": 0.1},
        },
        {
            "probe": "prometheus.alert_expression",
            "params": {"expression": 'request_duration_seconds{quantile="0.99",service="search"} > 1'},
        },
    ]
    calm = run(cli, tmp_path, "Search blip", target, cleared)
    calm.check(set(), {"prometheus.metric-threshold-breached", "prometheus.alert-still-firing"})
    assert "no longer holds" in calm.text
