"""`incident-lab run --alert`: an Alertmanager payload opens the investigation of a real
PostgreSQL lock incident; its name, severity, start, service and links reach the archived
report's header, and the timeline starts with the alert firing at the alert's own time."""

import copy
import datetime as dt
import html
import json
import os
import re
import shlex
from pathlib import Path

import nbformat
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from incident_lab import scenarios
from incident_lab.result import format_time
from incident_lab.testing.alert_samples import ALERTMANAGER

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def alert_payload(started: dt.datetime, database: str) -> dict:
    payload = copy.deepcopy(ALERTMANAGER)
    for item in payload["alerts"]:
        item["startsAt"] = format_time(started)
        item["labels"]["database"] = database
    payload["alerts"][1]["startsAt"] = format_time(started + dt.timedelta(seconds=40))
    return payload


def routes_for(dsn: str, tmp_path: Path) -> Path:
    """A route aiming the lock probes at the alerting database, by its label."""
    server = {**conninfo_to_dict(dsn), "dbname": "DATABASE"}
    target = make_conninfo(**server).replace("DATABASE", "${labels.database}")
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        json.dumps(
            {
                "routes": [
                    {
                        "match": {"alertname": "CheckoutErrors", "service": "~check.*"},
                        "targets": {"postgres": target},
                        "hypotheses": ["postgres.lock_contention", "postgres.long_transactions"],
                    }
                ],
                "default": {"targets": {"postgres": "postgres:service=nowhere"}},
            }
        )
    )
    return routes


def report_text(report: Path) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", report.read_text())).split())


def test_an_alertmanager_payload_opens_the_investigation_of_a_migration_holding_a_lock(
    database, tmp_path, cli
):
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=3)
    name = conninfo_to_dict(database)["dbname"]
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(alert_payload(started, name)))
    archive = tmp_path / "archive"
    routes = routes_for(database, tmp_path)
    with scenarios.migration_holds_lock(database, table="orders", readers=2):
        shown = cli("run", "--alert", str(alert), "--routes", str(routes), "--archive", str(archive))
    assert shown.returncode == 0, shown.stderr
    report = Path(shown.stdout.strip())
    text = report_text(report)
    assert "CheckoutErrors: Checkout failing for 50% of requests" in text
    assert "Severity: Critical" in text and "Service: checkout" in text
    assert f"first fired {started:%Y-%m-%d %H:%M:%S} UTC" in text
    page = report.read_text()
    assert 'href="https://runbooks/checkout"' in page and 'href="http://alertmanager:9093"' in page
    assert "g0.expr=rate%28errors_total" in html.unescape(page)
    timeline = text.split("Timeline:")[1]
    assert timeline.strip().startswith(f"{started:%H:%M:%S} UTC — First alert fired (CheckoutErrors")
    document = json.loads((report.parent / "results.json").read_text())
    assert document["incident"]["started_at"] == format_time(started)  # the earliest startsAt
    assert document["incident"]["alert"]["group_key"] == ALERTMANAGER["groupKey"]
    assert document["timeline"][0]["text"].startswith("First alert fired")
    verdicts = {r["probe"]: r["verdict"] for r in document["results"]}
    assert verdicts == {"postgres.lock_contention": True, "postgres.long_transactions": False}
    assert report.parent.parent.name.startswith(f"{started:%Y-%m-%d}")


def test_flags_override_the_payload_and_stdin_is_read(database, tmp_path, cli):
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    payload = json.dumps(alert_payload(started, "shop"))
    archive = tmp_path / "archive"
    shown = cli(
        "new",
        "--alert",
        "-",
        "--severity",
        "Low",
        "--incident",
        "Checkout by hand",
        "--target",
        f"postgres={database}",
        "--archive",
        str(archive),
        input=payload,
    )
    assert shown.returncode == 0, shown.stderr
    notebook = nbformat.read(shown.stdout.split()[-1], as_version=4)
    parameters = notebook.metadata["papermill"]["parameters"]
    assert (parameters["incident"], parameters["severity"]) == ("Checkout by hand", "Low")
    assert parameters["started_at"] == format_time(started) and parameters["service"] == "checkout"
    assert parameters["links"]["Runbook"] == "https://runbooks/checkout"


def test_a_bad_payload_or_routing_file_is_one_line_and_exit_2(tmp_path, cli):
    broken = copy.deepcopy(ALERTMANAGER)
    del broken["alerts"][0]["startsAt"]
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(broken))
    shown = cli("run", "--alert", str(alert), "--archive", str(tmp_path / "archive"))
    assert shown.returncode == 2
    assert shown.stderr.strip() == "incident-lab: error: alertmanager.alerts[0].startsAt is missing"
    alert.write_text("{not json")
    shown = cli("run", "--alert", str(alert), "--archive", str(tmp_path / "archive"))
    assert shown.returncode == 2 and "not valid JSON" in shown.stderr and len(shown.stderr.splitlines()) == 1
    alert.write_text(json.dumps(ALERTMANAGER))
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes:\n  - match: {service: '~(('}\n")
    shown = cli("run", "--alert", str(alert), "--routes", str(routes), "--archive", str(tmp_path / "a"))
    assert shown.returncode == 2
    assert f"routing file {routes}: routes[0].match.service: invalid regular expression" in shown.stderr
    assert not (tmp_path / "archive").exists() and not (tmp_path / "a").exists()


def readme_section() -> str:
    return README.split("## Starting from an alert")[1].split("\n## ")[0]


def test_the_readmes_alert_command_and_routing_file_run_as_written(database, tmp_path, cli):
    """The README's routing file aims the lock probes at the `database` label's service."""
    section = readme_section()
    (tmp_path / "routes.yaml").write_text(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    command = re.search(r"```sh\n(incident-lab run --alert.*?)\n```", section, re.S).group(1)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=2)
    (tmp_path / "alert.json").write_text(json.dumps(alert_payload(started, "shop")))
    parts = conninfo_to_dict(database)
    services = tmp_path / "pg_service.conf"
    services.write_text("[shop]\n" + "".join(f"{k}={parts[k]}\n" for k in ("host", "port", "dbname", "user")))
    env = {
        **os.environ,
        "PGSERVICEFILE": str(services),
        "PGPASSWORD": str(parts["password"]),
        "INCIDENT_LAB_ARCHIVE": str(tmp_path / "archive"),
    }
    with scenarios.migration_holds_lock(database, table="orders", readers=2):
        shown = cli(*shlex.split(command)[1:], cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    document = json.loads((Path(shown.stdout.strip()).parent / "results.json").read_text())
    assert document["incident"]["targets"] == {"postgres": "service=shop"}  # the label filled it
    assert {r["probe"]: r["verdict"] for r in document["results"]} == {
        "postgres.lock_contention": True,
        "postgres.long_transactions": False,
    }
