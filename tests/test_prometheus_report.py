"""A Prometheus investigation end to end: the README's own commands against a real
Prometheus holding a known incident, the report's symptom table and chart, a token
given by env: kept out of every archived file while it reaches the server (through a
proxy named by HTTP_PROXY, or around it for NO_PROXY), and Prometheus scraping the
PostgreSQL exporter of a real server during a migration's lock."""

import http.client
import json
import re
import shlex
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from matplotlib.image import imread

from incident_lab import Result, run, scenarios
from incident_lab.kinds.prometheus import KIND
from incident_lab.kinds.prometheus.window import iso
from incident_lab.registry import load_registry
from incident_lab.render import figures
from incident_lab.testing.prometheus import PostgresExporter
from incident_lab.verdict import Verdict

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
PLACEHOLDER = "http://prometheus:9090"
TOKEN = "tok-canary-7731-do-not-archive"
START_LINE = (0x6A / 255, 0x1B / 255, 0x9A / 255)  # the chart's incident-start line, #6a1b9a


def readme_block(language: str, containing: str) -> str:
    return next(b for b in re.findall(rf"```{language}\n(.*?)```", README, re.S) if containing in b)


def readme_commands(url: str, started_at: str) -> list[list[str]]:
    block = readme_block("sh", PLACEHOLDER).replace(PLACEHOLDER, url)
    block = re.sub(r"--started-at \S+", f"--started-at {started_at}", block)
    return [shlex.split(line) for line in block.strip().splitlines()]


def has_colour(picture: Path, colour: tuple[float, float, float]) -> bool:
    pixels = imread(str(picture))[:, :, :3]
    return bool((abs(pixels - colour).max(axis=2) < 0.03).any())


def test_the_readme_commands_report_user_impact_from_the_error_ratio_and_chart_the_spike(
    incident_metrics, tmp_path, cli
):
    (tmp_path / "hypotheses.yaml").write_text(readme_block("yaml", "prometheus.threshold"))
    started_at = iso(incident_metrics.spike_at)
    investigate, probe = readme_commands(incident_metrics.url, started_at)
    shown = cli(*investigate[1:], "--archive", str(tmp_path / "archive"), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    run_dir = Path(shown.stdout.strip()).parent
    document = json.loads((run_dir / "results.json").read_text())
    assert document["incident"]["started_at"] == started_at
    (result,) = [Result.from_dict(r) for r in document["results"]]
    assert result.verdict is Verdict.TRUE and result.params["started_at"] == started_at, result.summary
    report = (run_dir / "report.html").read_text()
    row = re.search(r"<tr><td>User Impact</td><td>(.*?)</td><td>(.*?)</td></tr>", report)
    assert row is not None, "no User Impact row in the symptom table"
    assert "Confirmed" in row[1] and row[2].startswith("Above 5% for ") and "(Hypothesis A)" in row[2]
    assert "peaking at 50%" in row[2]
    assert f"Incident start:</strong> <code>{started_at[:19].replace('T', ' ')} UTC" in report

    chart = KIND.chart(result)
    assert chart is not None and chart.threshold == 0.05 and chart.percent
    assert chart.marker == incident_metrics.spike_at and chart.marker_label == "incident start"
    step = result.table("window").records()[0]["step_seconds"]
    assert 0 <= chart.shaded[0][0] - incident_metrics.spike_at <= 15 + step  # a rate lags one scrape
    picture = run_dir / "charts" / "hypothesis-a.png"
    assert has_colour(picture, START_LINE), "the chart has no line at the incident's start"

    assert figures.result_picture(result, load_registry(), "chart") is not None  # what the panel shows

    answered = cli(*probe[1:], cwd=tmp_path)
    assert answered.returncode == 0, answered.stderr
    assert "Verdict: TRUE (confirmed): Above 5% for " in answered.stdout


def test_probe_takes_the_incidents_start_and_refuses_one_that_is_no_time(incident_metrics, cli):
    target = f"prometheus={incident_metrics.url}"
    query = 'http_requests_error_ratio{service="checkout"}'
    started_at = iso(incident_metrics.spike_at)
    shown = cli("probe", "prometheus.threshold", "--target", target, "--param", f"query={query}",
                "--param", "above=0.1", "--started-at", started_at, "--json")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    result = json.loads(shown.stdout)
    assert result["params"]["started_at"] == started_at
    assert result["evidence"][0]["rows"][0][5] == started_at  # the window's started_at
    wrong = cli("probe", "prometheus.threshold", "--target", target, "--started-at", "after lunch")
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "ISO 8601" in wrong.stderr


class ForwardingProxy:
    """An HTTP proxy on 127.0.0.1 that forwards to the real server and notes what passed."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # the request's target, its Authorization header
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.seen.append((self.path, self.headers.get("Authorization", "")))
                parts = urlsplit(self.path)
                upstream = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "host")
                }
                upstream.request("GET", f"{parts.path}?{parts.query}", headers=headers)
                answer = upstream.getresponse()
                body = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test reads `seen`."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def forwarding_proxy():
    proxy = ForwardingProxy()
    yield proxy
    proxy.close()


def without_proxies(environment):
    return {k: v for k, v in environment.items() if not k.lower().endswith("_proxy")}


def test_a_token_from_the_environment_reaches_prometheus_through_the_proxy_and_no_archived_file(
    incident_metrics, forwarding_proxy, tmp_path, cli
):
    import os

    environment = {**without_proxies(os.environ), "PROM_TOKEN": TOKEN, "HTTP_PROXY": forwarding_proxy.url}
    target = f"prom=prometheus:{incident_metrics.url} token=env:PROM_TOKEN"
    hypothesis = 'prometheus.threshold:query=http_requests_error_ratio{service="checkout"},above=0.1'
    shown = cli(
        *("run", "--incident", "Token", "--severity", "Low", "--target", target, "--hypothesis", hypothesis),
        *("--archive", str(tmp_path)),
        env=environment,
    )
    assert shown.returncode == 0, shown.stderr
    assert TOKEN not in shown.stdout + shown.stderr
    assert forwarding_proxy.seen and all(auth == f"Bearer {TOKEN}" for _, auth in forwarding_proxy.seen)
    assert forwarding_proxy.seen[0][0].startswith(f"{incident_metrics.url}/api/v1/query_range?")
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) >= 6
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path
    (result,) = json.loads(next(tmp_path.rglob("results.json")).read_text())["results"]
    assert result["verdict"] is True and "(proxies from the environment: HTTP_PROXY=" in result["test"]

    forwarding_proxy.seen.clear()
    bypassed = cli(
        *("probe", "prometheus.threshold", "--target", target.replace("prom=", "prometheus=", 1)),
        *("--param", "query=up or vector(1)", "--param", "above=2", "--json"),
        env={**environment, "NO_PROXY": "127.0.0.1"},
    )
    assert bypassed.returncode == 0, bypassed.stderr
    assert json.loads(bypassed.stdout)["verdict"] is False and forwarding_proxy.seen == []


BLOCKED_SESSIONS = """
pg_blocked:
  query: "SELECT count(*) AS sessions FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
  metrics:
    - sessions: {usage: "GAUGE", description: "Sessions waiting on a heavyweight lock"}
"""


def test_prometheus_scraping_the_postgresql_exporter_sees_sessions_queue_behind_a_migration(
    database, prometheus_server
):
    with PostgresExporter(database, BLOCKED_SESSIONS) as exporter:
        prom = prometheus_server(scrape=[exporter.address], scrape_interval="1s")
        prom.wait_for_scrapes(3)
        # A two-minute window at a one-second step: the exporter's series is only seconds old.
        params = {"query": "pg_blocked_sessions", "above": 0, "for_seconds": 2, "lookback_seconds": 60}
        quiet = run("prometheus.threshold", prom.url, params)
        assert quiet.verdict is Verdict.FALSE, quiet.summary
        with scenarios.migration_holds_lock(database, table="orders", readers=3):
            deadline = time.monotonic() + 30
            while (locked := run("prometheus.threshold", prom.url, params)).verdict is not Verdict.TRUE:
                assert time.monotonic() < deadline, locked.summary
                time.sleep(1)
    assert locked.metric("peak") == 3 and locked.table("series").records()[0]["series"].startswith(
        'pg_blocked_sessions{instance="127.0.0.1:'
    )
