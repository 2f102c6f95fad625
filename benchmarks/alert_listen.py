"""Alerts in: how fast `incident-lab listen` answers a webhook while investigations run,
and how long from an alert to its archived report, against `incident-lab run --alert`
started by hand.

An embedded server where a migration holds a lock with three readers queued, as in the
demo; `incident-lab listen --workers 2` aimed at it with one hypothesis
(postgres.lock_contention).

1. Alert to report, alternating: one Alertmanager notification posted to `listen`, timed
   until its run's summary.json is written; and `incident-lab run --alert FILE`, each a
   fresh process as a person starts it.
2. A burst: `burst` notifications of distinct alert groups from 8 clients at once, while
   the earlier ones are being investigated; each answer's latency (median, p99, max).
   Then SIGTERM with no grace: every accepted notification must be in the archive, run or
   archived as failed with the reason, none lost (that is checked, not timed).

    .venv/bin/python benchmarks/alert_listen.py            # 3 of each, a burst of 200
    .venv/bin/python benchmarks/alert_listen.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from incident_lab import scenarios
from incident_lab.result import format_time
from incident_lab.testing.alert_samples import ALERTMANAGER
from incident_lab.testing.listener import Answer, Listen

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import embedded_server, machine, median, ms, print_machine, print_table, ratio

BIN = Path(sys.executable).parent
PROBE_ID = "postgres.lock_contention"
CLIENTS = 8

# Tiny sizes for --quick and the test suite: every step runs; the figures mean nothing.
QUICK: dict[str, Any] = {"repeats": 1, "burst": 10}


def notification(name: str) -> dict[str, Any]:
    """An Alertmanager notification of its own alert group, fired two minutes ago."""
    payload = copy.deepcopy(ALERTMANAGER)
    payload["groupKey"] = f'{{}}:{{alertname="{name}"}}'
    payload["commonLabels"]["alertname"] = name
    started = format_time(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
    for alert in payload["alerts"]:
        alert["startsAt"] = started
    return payload


def wait_for_report(archive: Path, incident: str, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not list((archive / incident).glob("run-*/summary.json")):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no run of {incident} within {timeout:g} s")
        time.sleep(0.05)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def run(repeats: int = 3, burst: int = 200) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with embedded_server() as server, tempfile.TemporaryDirectory(prefix="incident_lab_alerts_") as folder:
        work = Path(folder)
        server.create_database("shop")
        figures["machine"] = machine(server.version())
        print_machine(figures["machine"])
        target = f"postgres={server.tcp_dsn('shop')}"
        route = ["--target", target, "--hypothesis", PROBE_ID]
        archive = work / "archive"
        times: dict[str, list[float]] = {"listen (alert → report)": [], "run --alert (by hand)": []}
        with scenarios.migration_holds_lock(server.socket_dsn("shop"), readers=3):
            listen = Listen(archive, ["--workers", "2", "--queue", str(burst + 50), "--grace", "0", *route])
            with listen:
                for number in range(repeats):
                    print(f"  round {number + 1} of {repeats} …", file=sys.stderr)
                    began = time.perf_counter()
                    answer = listen.post("/alertmanager", notification(f"Single{number}"))
                    wait_for_report(archive, answer.body["incident"])
                    times["listen (alert → report)"].append(time.perf_counter() - began)
                    alert = work / f"alert-{number}.json"
                    alert.write_text(json.dumps(notification(f"ByHand{number}")))
                    command = [str(BIN / "incident-lab"), "run", "--alert", str(alert), *route]
                    began = time.perf_counter()
                    subprocess.run([*command, "--archive", str(archive)], check=True, capture_output=True)
                    times["run --alert (by hand)"].append(time.perf_counter() - began)
                names = [f"Burst{number}" for number in range(burst)]
                with ThreadPoolExecutor(CLIENTS) as clients:
                    answers: list[Answer] = list(
                        clients.map(lambda name: listen.post("/alertmanager", notification(name)), names)
                    )
                busy = listen.health()
                stopped = listen.stop()
        accepted = [answer.body["incident"] for answer in answers if answer.status == 202]
        kept = [incident for incident in accepted if list((archive / incident).glob("run-*/summary.json"))]
        outcomes = [
            json.loads(next((archive / incident).glob("run-*/summary.json")).read_text())["outcome"]
            for incident in kept
        ]
    latencies = [answer.seconds for answer in answers]
    figures["alert_to_report"] = {name: median(values) for name, values in times.items()}
    figures["times"] = times
    figures["burst"] = {
        "sent": burst,
        "accepted": len(accepted),
        "answers": dict(Counter(answer.status for answer in answers)),
        "median": median(latencies),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
        "lost": len(accepted) - len(kept),
        "completed": outcomes.count("completed"),
        "archived_failed": outcomes.count("failed"),
        "running_during_burst": busy["running"],
        "exit_code": stopped,
    }
    report(figures)
    return figures


def report(figures: dict[str, Any]) -> None:
    to_report = figures["alert_to_report"]
    listen, by_hand = to_report["listen (alert → report)"], to_report["run --alert (by hand)"]
    print_table(
        ["path", "alert to archived report (median)", "÷ by hand"],
        [
            ["incident-lab listen", f"{listen:.2f} s", ratio(listen, by_hand)],
            ["incident-lab run --alert", f"{by_hand:.2f} s", "1.00x"],
        ],
        title="Alert to report",
    )
    burst = figures["burst"]
    print_table(
        [
            "sent",
            "accepted",
            "answer median",
            "p99",
            "max",
            "running meanwhile",
            "lost",
            "run / archived failed",
        ],
        [
            [
                burst["sent"],
                burst["accepted"],
                ms(burst["median"]),
                ms(burst["p99"]),
                ms(burst["max"]),
                burst["running_during_burst"],
                burst["lost"],
                f"{burst['completed']} / {burst['archived_failed']}",
            ]
        ],
        title=f"Webhook answers under a burst ({CLIENTS} clients at once)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    run(**QUICK) if args.quick else run(repeats=args.repeats, burst=args.burst)


if __name__ == "__main__":
    main()
