"""`incident-lab listen` with real senders and a real incident: Debian's Alertmanager
posting to it (bearer token, group_wait 1s, send_resolved) while a migration holds a lock
on a real PostgreSQL; Grafana and PagerDuty samples posted with valid and invalid
signatures; tokens refused; a re-fire; a burst of alert groups; SIGTERM mid-run."""

import copy
import datetime as dt
import html
import json
import re
import shlex
import shutil
import time
import urllib.parse
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from incident_lab import scenarios
from incident_lab.result import format_time
from incident_lab.testing.alert_samples import ALERTMANAGER, GRAFANA, PAGERDUTY
from incident_lab.testing.alertmanager import AlertmanagerServer, check_config, receiver_config
from incident_lab.testing.listener import Listen, sign

EXPRESSION = "sum(rate(checkout_errors_total[5m])) > 0.05"
GENERATOR = "http://prometheus:9090/graph?" + urllib.parse.urlencode({"g0.expr": EXPRESSION, "g0.tab": "1"})


def needs_alertmanager():
    if shutil.which("prometheus-alertmanager") is None:
        pytest.skip(
            "prometheus-alertmanager is not installed (Debian: apt-get install prometheus-alertmanager)"
        )


def routes_file(tmp_path: Path, dsn: str, hypotheses=("postgres.lock_contention",)) -> Path:
    """Alerts of the checkout service go to the database their `database` label names."""
    server = {**conninfo_to_dict(dsn), "dbname": "DATABASE"}
    target = make_conninfo(**server).replace("DATABASE", "${labels.database}")
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        json.dumps(
            {
                "routes": [
                    {
                        "match": {"service": "checkout"},
                        "targets": {"postgres": target},
                        "hypotheses": list(hypotheses),
                    }
                ]
            }
        )
    )
    return routes


def wait_for_runs(archive: Path, folder: str, count: int, timeout: float = 300) -> list[Path]:
    """The incident's finished runs (summary.json is written last), once there are `count`;
    `folder` is the folder's name or a glob of it."""
    deadline = time.monotonic() + timeout
    while True:
        runs = sorted(run.parent for run in archive.glob(f"{folder}/run-*/summary.json"))
        if len(runs) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(runs) == count, f"{archive} has {runs} for {folder}, not {count} runs"
    assert len({run.parent for run in runs}) == 1, runs  # one incident folder
    return runs


def text_of(report: Path) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", report.read_text())).split())


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def test_alertmanager_firing_then_resolving_at_listen_investigates_the_lock(database, tmp_path):
    needs_alertmanager()
    archive = tmp_path / "archive"
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=2)
    name = conninfo_to_dict(database)["dbname"]
    alert = {
        "labels": {
            "alertname": "CheckoutLocked",
            "severity": "critical",
            "service": "checkout",
            "database": name,
        },
        "annotations": {
            "summary": "Checkout requests time out",
            "runbook_url": "https://runbooks.example/locks",
        },
        "startsAt": format_time(started),
        "generatorURL": GENERATOR,
    }
    options = ["--routes", str(routes_file(tmp_path, database, ("postgres.lock_contention",)))]
    with Listen(archive, options) as listen, scenarios.migration_holds_lock(database, readers=2):
        config = receiver_config(f"{listen.url}/alertmanager", listen.token)
        with AlertmanagerServer(config) as alertmanager:
            alertmanager.post_alerts([alert])
            folder = f"{started:%Y-%m-%d}-checkoutlocked-checkout-requests-time-out-*"
            [first] = wait_for_runs(archive, folder, 1)
            text = text_of(first / "report.html")
            assert "CheckoutLocked: Checkout requests time out" in text
            assert "Severity: Critical" in text and "Service: checkout" in text
            assert f"firing (alertmanager), first fired {started:%Y-%m-%d %H:%M:%S} UTC" in text
            page = html.unescape((first / "report.html").read_text())
            assert 'href="https://runbooks.example/locks"' in page and f'href="{GENERATOR}"' in page
            assert f'href="{alertmanager.url}"' in page  # Alertmanager's externalURL
            assert (
                text.split("Timeline:")[1]
                .strip()
                .startswith(f"{started:%H:%M:%S} UTC — First alert fired (CheckoutLocked")
            )
            document = results(first)
            assert document["incident"]["started_at"] == format_time(started)
            assert document["incident"]["alert"]["group_key"] == '{}:{alertname="CheckoutLocked"}'
            assert [(r["probe"], r["verdict"]) for r in document["results"]] == [
                ("postgres.lock_contention", True)
            ]
            # The rule stops firing: Alertmanager sends the resolve, and the last round runs.
            alertmanager.post_alerts([{**alert, "endsAt": format_time(dt.datetime.now(dt.UTC))}])
            second = wait_for_runs(archive, folder, 2)[1]
    closing = results(second)
    assert closing["incident"]["alert"]["status"] == "resolved"
    notes = [entry["text"] for entry in closing["timeline"]]
    assert notes[0] == "First alert fired (CheckoutLocked: Checkout requests time out)"
    assert "Alert resolved (CheckoutLocked: Checkout requests time out)" in notes
    assert sum(note.startswith("First alert fired") for note in notes) == 1
    closed = text_of(second / "report.html")
    assert "Alert resolved" in closed.split("Timeline:")[1]
    header = (
        rf"Alert: resolved \(alertmanager\), first fired {started:%Y-%m-%d %H:%M:%S} UTC ?, resolved 20\d\d-"
    )
    assert re.search(header, closed), closed[:400]
    assert "listen-token-for-tests" not in listen.log()


GRAFANA_SECRET = "grafana-signing-secret-for-tests"
PAGERDUTY_SECRET = "pagerduty-signing-secret-for-tests"


def folders(archive: Path) -> list[Path]:
    return sorted(path for path in archive.glob("20*") if path.is_dir()) if archive.exists() else []


def test_signatures_tokens_bad_bodies_and_a_refire(database, tmp_path):
    archive = tmp_path / "archive"
    secrets = {
        "INCIDENT_LAB_GRAFANA_SECRET": GRAFANA_SECRET,
        "INCIDENT_LAB_PAGERDUTY_SECRET": PAGERDUTY_SECRET,
    }
    options = ["--target", f"postgres={database}", "--hypothesis", "postgres.long_transactions"]
    with Listen(archive, options, env=secrets) as listen:
        grafana = json.dumps(GRAFANA).encode()
        paged = json.dumps(PAGERDUTY).encode()
        signature = sign(GRAFANA_SECRET, grafana)
        refused = [
            listen.post("/grafana", None, raw=grafana),  # no signature
            listen.post("/grafana", None, raw=grafana, headers={"X-Grafana-Alerting-Signature": "0" * 64}),
            listen.post(
                "/grafana", None, raw=grafana + b" ", headers={"X-Grafana-Alerting-Signature": signature}
            ),
            listen.post("/pagerduty", None, raw=paged, headers={"X-PagerDuty-Signature": "v1=" + "0" * 64}),
            listen.post("/alertmanager", ALERTMANAGER, token="wrong-token"),
            listen.post("/alertmanager", ALERTMANAGER, token=None),
            listen.post(
                "/grafana", None, raw=grafana, token=None, headers={"X-Grafana-Alerting-Signature": signature}
            ),
        ]
        assert [answer.status for answer in refused] == [401] * len(refused)
        assert all(answer.body["error"] for answer in refused)
        bad = {
            "malformed": listen.post("/alertmanager", None, raw=b'{"alerts": ['),
            "shape": listen.post("/alertmanager", {"hello": "world"}),
            "field": listen.post(
                "/pagerduty",
                {"event": {"event_type": "incident.triggered"}},
                headers={
                    "X-PagerDuty-Signature": "v1="
                    + sign(PAGERDUTY_SECRET, b'{"event": {"event_type": "incident.triggered"}}')
                },
            ),
            "oversized": listen.post("/alertmanager", None, raw=b" " * (1024 * 1024 + 1)),
        }
        assert {what: answer.status for what, answer in bad.items()} == {
            "malformed": 400,
            "shape": 400,
            "field": 400,
            "oversized": 413,
        }
        assert "pagerduty.event.data" in bad["field"].body["error"]
        assert folders(archive) == []  # nothing ran for any of them
        rotated = f"v1={'0' * 64},v1={sign(PAGERDUTY_SECRET, paged)}"  # two keys during a rotation
        accepted = [
            listen.post("/grafana", None, raw=grafana, headers={"X-Grafana-Alerting-Signature": signature}),
            listen.post("/pagerduty", None, raw=paged, headers={"X-PagerDuty-Signature": rotated}),
            listen.post("/alertmanager", ALERTMANAGER),
            listen.post("/alertmanager", ALERTMANAGER),  # the same group fires again
        ]
        assert [answer.status for answer in accepted] == [202] * 4, [a.body for a in accepted]
        assert accepted[2].body["incident"] == accepted[3].body["incident"]
        assert listen.wait_idle(600) == {**listen.health(), "queued": 0, "running": 0}
        log = listen.log()
    assert len(folders(archive)) == 3
    by_source = {}
    for folder in folders(archive):
        runs = sorted(folder.glob("run-*/summary.json"))
        by_source[results(runs[0].parent)["incident"]["alert"]["source"]] = [run.parent for run in runs]
    assert {source: len(runs) for source, runs in by_source.items()} == {
        "grafana": 1,
        "pagerduty": 1,
        "alertmanager": 2,
    }
    refire = results(by_source["alertmanager"][1])
    assert [entry["text"] for entry in refire["timeline"]].count(
        "First alert fired (CheckoutErrors: Checkout failing for 50% of requests)"
    ) == 1
    paged_run = results(by_source["pagerduty"][0])
    assert (
        paged_run["incident"]["links"]["PagerDuty incident"] == "https://acme.pagerduty.com/incidents/PGR0VU2"
    )
    assert paged_run["incident"]["severity"] == "High"
    for secret in (listen.token, GRAFANA_SECRET, PAGERDUTY_SECRET, signature):
        assert secret not in log
    assert len([line for line in log.splitlines() if " POST /" in line]) == len(refused) + len(bad) + len(
        accepted
    )


def test_listen_refuses_to_start_without_a_token_unless_told_on_loopback(tmp_path, cli):
    shown = cli("listen", "--bind", "127.0.0.1:0", env={"PATH": "/usr/bin:/bin"})
    assert shown.returncode == 1
    assert shown.stderr.strip() == (
        "incident-lab: error: INCIDENT_LAB_LISTEN_TOKEN is not set: "
        "set it to the token senders give (or --no-auth on 127.0.0.1)"
    )
    shown = cli("listen", "--bind", "0.0.0.0:0", "--no-auth", env={"PATH": "/usr/bin:/bin"})
    assert shown.returncode == 2 and "--no-auth is only for a loopback address" in shown.stderr
    with Listen(tmp_path / "archive", ["--no-auth"], token=None) as listen:
        assert listen.post("/alertmanager", {"alerts": "x"}, token=None).status == 400  # heard, not 401


def test_sigterm_archives_every_accepted_alert_that_did_not_finish(database, tmp_path):
    archive = tmp_path / "archive"
    options = ["--workers", "1", "--grace", "0", "--target", f"postgres={database}"]
    with Listen(archive, options) as listen:
        groups = []
        for number in range(3):
            payload = copy.deepcopy(ALERTMANAGER)
            payload["groupKey"] = f'{{}}:{{alertname="Stop{number}"}}'
            payload["commonLabels"]["alertname"] = f"Stop{number}"
            answer = listen.post("/alertmanager", payload)
            assert answer.status == 202, answer.body
            groups.append(answer.body["incident"])
        time.sleep(1)  # the first is under way
        assert listen.stop() == 0
    for incident in groups:
        runs = list((archive / incident).glob("run-*/summary.json"))
        assert len(runs) == 1, incident  # none lost, none run twice
    failed = [
        json.loads(next((archive / incident).glob("run-*/summary.json")).read_text()) for incident in groups
    ]
    reasons = [summary["error"] or "" for summary in failed]
    assert sum("before this investigation started" in reason for reason in reasons) >= 2, reasons
    assert all(summary["outcome"] in ("completed", "failed") for summary in failed)
    assert all(
        "SIGTERM" in reason
        for reason, summary in zip(reasons, failed, strict=True)
        if summary["outcome"] == "failed"
    )


def test_a_burst_of_50_alert_groups_is_investigated_once_each(database, tmp_path):
    archive = tmp_path / "archive"
    options = [
        "--workers",
        "2",
        "--queue",
        "100",
        "--target",
        f"postgres={database}",
        "--hypothesis",
        "postgres.long_transactions",
    ]
    with Listen(archive, options) as listen:
        answers = []
        for number in range(50):
            payload = copy.deepcopy(ALERTMANAGER)
            payload["groupKey"] = f'{{}}:{{alertname="Burst{number}"}}'
            payload["commonLabels"]["alertname"] = f"Burst{number}"
            answers.append(listen.post("/alertmanager", payload))
        assert [answer.status for answer in answers] == [202] * 50
        latencies = sorted(1000 * answer.seconds for answer in answers)
        # Figures for the benchmark, not a test: a timing assertion would fail on a busy machine.
        print(
            f"webhook answers (ms): median {latencies[25]:.1f}, p90 {latencies[44]:.1f}, "
            f"max {latencies[-1]:.1f}"
        )
        health = listen.wait_idle(3600)
    assert (health["queued"], health["running"], health["finished"]) == (0, 0, 50)
    investigated = {answer.body["incident"] for answer in answers}
    assert len(investigated) == 50
    for incident in investigated:
        runs = list((archive / incident).glob("run-*/summary.json"))
        assert len(runs) == 1, incident
        assert json.loads(runs[0].read_text())["outcome"] == "completed"


def listen_section() -> str:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    return readme.split("## Listening for alerts")[1].split("\n## ")[0]


def test_the_readmes_alertmanager_receiver_passes_amtool_check_config():
    needs_alertmanager()
    config = re.search(r"```yaml\n(route:.*?)```", listen_section(), re.S).group(1)
    checked = check_config(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout + checked.stderr
    broken = check_config(config.replace("receiver: incident-lab", "receiver: nobody"))
    assert broken.returncode != 0  # amtool does check: a route to an undefined receiver fails


def test_the_readmes_listen_command_runs_as_written(database, tmp_path):
    """With the README's routing file (from "Starting from an alert") and its shop service."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    routes = readme.split("## Starting from an alert")[1].split("\n## ")[0]
    (tmp_path / "routes.yaml").write_text(re.search(r"```yaml\n(.*?)```", routes, re.S).group(1))
    command = re.search(r"^(incident-lab listen .*)$", listen_section(), re.M).group(1)
    parts = conninfo_to_dict(database)
    services = tmp_path / "pg_service.conf"
    services.write_text("[shop]\n" + "".join(f"{k}={parts[k]}\n" for k in ("host", "port", "dbname", "user")))
    env = {"PGSERVICEFILE": str(services), "PGPASSWORD": str(parts["password"])}
    payload = copy.deepcopy(ALERTMANAGER)
    for item in payload["alerts"]:
        item["labels"]["database"] = "shop"
    with Listen(tmp_path / "archive", shlex.split(command)[2:], env=env, cwd=tmp_path) as listen:
        answer = listen.post("/alertmanager", payload)
        assert answer.status == 202, answer.body
        listen.wait_idle(600)
    [run] = (tmp_path / "archive" / answer.body["incident"]).glob("run-*")
    document = results(run)
    assert document["incident"]["targets"] == {"postgres": "service=shop"}  # the route, by its label
    assert [r["probe"] for r in document["results"]] == [
        "postgres.lock_contention",
        "postgres.long_transactions",
    ]
