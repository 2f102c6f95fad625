"""Monitoring cadence: what `incident-lab watch` every 5 s over the default PostgreSQL
hypotheses costs the target, and how soon the panel's badge shows a probe's answer.

Cost to the target, as `target_cost.py` measures it: `pgbench --select-only` over TCP
while a migration holds a lock with readers queued, alternating (in an order reversed
every round) between pgbench alone and pgbench while `incident-lab watch --every 5s`
runs its rounds at the lowest CPU priority (a client on another machine stands in).
The watch is started first and pgbench only after its first round, and it is ended
once pgbench has finished (terminated: what it would archive then is not measured).
The password reaches the commands as PGPASSWORD, never in their arguments. The server CPU one round of
the seven hypotheses costs is measured directly, from the postmaster's totals for
sessions that ended.

Badge latency, in a real kernel: the panel (`InvestigationPanel`) monitors every 5 s;
an observer on each row's badge notes when its value is set, and the result then
shown says when its probe answered (`started_at` plus `duration_ms`). Once the lock
probe's badge shows the lock, the migration's lock is released, so that the badge turns
from True to False in a later round, as well as every badge leaving "not run".

    .venv/bin/python benchmarks/monitoring_cadence.py            # 3 rounds of 30 s runs
    .venv/bin/python benchmarks/monitoring_cadence.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from incident_lab import scenarios
from incident_lab.embedded import SUPERUSER
from incident_lab.investigation.history import IncidentHistory
from incident_lab.investigation.params import resolve
from incident_lab.investigation.state import Investigation
from incident_lab.runner import default_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import embedded_server, machine, median, print_machine, print_table, ratio
from target_cost import DATABASE, pgbench, select_only, server_cpu_seconds

BIN = Path(sys.executable).parent
EVERY_SECONDS = 5
ARMS = ("without", "watch every 5 s")
# The aim for the time from a probe's answer to its badge, as the issue sets it.
BADGE_AIM_MS = 100.0

# Tiny sizes for --quick and the test suite: every step runs; the figures mean nothing.
QUICK: dict[str, Any] = {"rounds": 1, "seconds": 6, "scale": 1, "clients": 2, "waiters": 3, "panel_rounds": 2}

# Runs in the kernel: the panel over the default hypotheses, monitoring; every badge set is
# noted with the answer it shows. Prints one JSON line.
PANEL_CODE = """
import asyncio, datetime as dt, json, time
from incident_lab.investigation.params import resolve
from incident_lab.investigation.state import Investigation
from incident_lab.investigation.history import IncidentHistory
from incident_lab.render.panel import InvestigationPanel
from incident_lab.runner import default_registry

def answered_at(result):
    started = dt.datetime.fromisoformat(result.started_at.replace("Z", "+00:00")).timestamp()
    return started + result.duration_ms / 1000

registry = default_registry()
values = {{"incident": "cadence", "severity": "Critical", "targets": {{"postgres": {dsn!r}}}}}
params = resolve(values, registry)
investigation = Investigation(params, IncidentHistory(), registry)
panel = InvestigationPanel(investigation, save=lambda: None)
seen = []
for row in panel.rows:
    def noted(change, row=row):
        result = investigation.latest(row.index)
        waited = (time.time() - answered_at(result)) * 1000
        seen.append({{"probe": result.probe, "verdict": result.label, "ms": waited}})
        if result.probe == "postgres.lock_contention" and result.label == "True":
            print("lock seen", flush=True)  # the benchmark then releases the lock
    row.badge.observe(noted, names="value")
panel.every.value = {every}
panel.monitoring.value = True
await asyncio.sleep({every} * {rounds} - 1)
panel.monitoring.value = False
await panel.wait_for_probes()
print(json.dumps(seen))
"""


def server_cpu_per_round(server: Any, dsn: str, rounds: int) -> float:
    """Seconds of server CPU one round of the default hypotheses costs."""
    registry = default_registry()
    values = {"incident": "cadence", "severity": "Critical", "targets": {"postgres": dsn}}
    investigation = Investigation(resolve(values, registry), IncidentHistory(), registry)
    investigation.run("warm")
    before = server_cpu_seconds(server)
    for number in range(rounds):
        investigation.run(f"round {number}")
    return (server_cpu_seconds(server) - before) / rounds


def start_watch(work: Path, dsn: str, environment: dict[str, str]) -> subprocess.Popen[str]:
    """`incident-lab watch` of the incident, at the lowest priority, once its first round is in."""
    watcher = subprocess.Popen(
        [
            str(BIN / "incident-lab"),
            "watch",
            "Checkout failing",
            "--every",
            f"{EVERY_SECONDS}s",
            "--until-clear",
            "1000",
            "--target",
            f"postgres={dsn}",
            "--archive",
            str(work / "archive"),
        ],
        cwd=work,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: os.nice(19),
    )
    assert watcher.stdout is not None
    watcher.stdout.readline()  # the first round's line
    return watcher


def stop_watch(watcher: subprocess.Popen[str]) -> int:
    """End the watch; the rounds it ran (one line each)."""
    watcher.terminate()
    try:
        out, _ = watcher.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        watcher.kill()
        out, _ = watcher.communicate()
    return 1 + sum(1 for line in out.splitlines() if line.startswith("round "))


def badge_latency(dsn: str, socket_dsn: str, rounds: int, waiters: int) -> list[dict[str, Any]]:
    """Every badge the panel set in a real kernel over `rounds` monitoring rounds, with the
    milliseconds from its probe's answer; the lock is released once its badge shows it."""
    from jupyter_client.manager import start_new_kernel

    # Outside the checkout: a kernel puts its working folder first on sys.path, and the
    # checkout's incident_lab/ (without its probes) would shadow the installed package.
    manager, client = start_new_kernel(kernel_name="python3", cwd=tempfile.gettempdir())
    printed: list[str] = []

    def output(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed.append("ERROR " + "\n".join(message["content"]["traceback"]))

    try:
        with ExitStack() as lock:
            lock.enter_context(scenarios.migration_holds_lock(socket_dsn, table="orders", readers=waiters))
            code = PANEL_CODE.format(dsn=dsn, every=EVERY_SECONDS, rounds=rounds)
            client.execute(textwrap.dedent(code))
            while True:
                message = client.get_iopub_msg(timeout=EVERY_SECONDS * rounds + 120)
                output(message)
                if any("lock seen" in line for line in printed):
                    # The lock probe's badge showed the lock: release it while the panel
                    # monitors, so that the badge turns.
                    lock.close()
                idle = message["msg_type"] == "status" and message["content"]["execution_state"] == "idle"
                if idle and printed:
                    break
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    text = "".join(printed)
    if "ERROR" in text:
        raise RuntimeError(text)
    return json.loads([line for line in text.splitlines() if line.startswith("[")][-1])


def run(
    rounds: int = 3,
    seconds: int = 30,
    scale: int = 5,
    clients: int = 4,
    waiters: int = 100,
    panel_rounds: int = 4,
) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {arm: [] for arm in ARMS}
    throughput: dict[str, list[float]] = {arm: [] for arm in ARMS}
    watched: list[int] = []
    with (
        embedded_server(max_connections=waiters + 60) as server,
        TemporaryDirectory(prefix="incident_lab_cadence_") as folder,
    ):
        work = Path(folder)
        server.create_database(DATABASE)
        facts = machine(server.version())
        dsn, socket_dsn = server.tcp_dsn(DATABASE), server.socket_dsn(DATABASE)
        # The commands get the password from the environment, as a person would give it.
        bare_dsn = f"postgresql://{SUPERUSER}@127.0.0.1:{server.postgres.port}/{DATABASE}"
        environment = {**os.environ, "PGPASSWORD": server.postgres.password}
        print("  the panel in a kernel …", file=sys.stderr)
        badges = badge_latency(dsn, socket_dsn, panel_rounds, waiters)
        pgbench(server, "-i", "-q", "-s", str(scale))
        select_only(server, max(1, seconds // 4), clients)  # warm the cache, untimed
        with scenarios.migration_holds_lock(socket_dsn, table="orders", readers=waiters):
            first = ["run", "--incident", "Checkout failing", "--severity", "Critical", "--target"]
            archive = str(work / "archive")  # where start_watch finds the incident
            subprocess.run(
                [str(BIN / "incident-lab"), *first, f"postgres={bare_dsn}", "--archive", archive],
                cwd=work,
                env=environment,
                check=True,
                capture_output=True,
            )
            cpu_per_round = server_cpu_per_round(server, dsn, max(2, rounds))
            for number in range(rounds):
                for arm in ARMS if number % 2 == 0 else reversed(ARMS):
                    print(f"  pgbench, {arm} …", file=sys.stderr)
                    watcher = start_watch(work, bare_dsn, environment) if arm != "without" else None
                    latency, tps = select_only(server, seconds, clients)
                    latencies[arm].append(latency)
                    throughput[arm].append(tps)
                    if watcher is not None:
                        watched.append(stop_watch(watcher))
    print_machine(facts)
    figures = {
        "machine": facts,
        "latency_ms": {arm: median(values) for arm, values in latencies.items()},
        "latencies": latencies,
        "throughput": throughput,
        "watched_rounds": watched,
        "server_cpu_per_round": cpu_per_round,
        "badges": badges,
        "settings": {"seconds": seconds, "scale": scale, "clients": clients, "waiters": waiters},
    }
    report(figures)
    return figures


def report(figures: dict[str, Any]) -> None:
    latencies, settings = figures["latencies"], figures["settings"]
    base = median(latencies["without"])
    rows = [
        [
            arm,
            len(latencies[arm]),
            f"{median(latencies[arm]):.3f} ms",
            f"{(median(latencies[arm]) - base) / base * 100:+.1f}%",
            ratio(median(latencies[arm]), base),
            f"{median(figures['throughput'][arm]):.0f}",
            sum(figures["watched_rounds"]) if arm != "without" else "",
        ]
        for arm in ARMS
    ]
    print_table(
        ["", "runs", "latency (median)", "added", "÷ without", "tps (median)", "watch rounds"],
        rows,
        f"pgbench --select-only, scale {settings['scale']}, {settings['clients']} clients, "
        f"{settings['seconds']} s runs, {settings['waiters']} sessions waiting on a lock throughout",
    )
    cpu = figures["server_cpu_per_round"]
    share = cpu / EVERY_SECONDS / (os.cpu_count() or 1) * 100
    print(
        f"Server CPU per round of the default hypotheses: {cpu * 1000:.1f} ms; every {EVERY_SECONDS} s "
        f"that is {share:.2f}% of the server's {os.cpu_count()} cores"
    )
    print()
    print_table(
        ["round", *ARMS],
        [
            [number + 1, *(f"{latencies[arm][number]:.3f} ms" for arm in ARMS)]
            for number in range(len(latencies["without"]))
        ],
        "Each run (noise on a shared machine)",
    )
    badges = figures["badges"]
    rows = []
    for probe in sorted({badge["probe"] for badge in badges}):
        mine = [badge["ms"] for badge in badges if badge["probe"] == probe]
        verdicts = " → ".join(badge["verdict"] for badge in badges if badge["probe"] == probe)
        rows.append([probe, len(mine), f"{median(mine):.1f} ms", f"{max(mine):.1f} ms", verdicts])
    every = [badge["ms"] for badge in badges]
    rows.append(["**all**", len(every), f"{median(every):.1f} ms", f"{max(every):.1f} ms", ""])
    print_table(
        ["probe", "badge changes", "answer to badge (median)", "worst", "verdicts shown"],
        rows,
        f"From a probe's answer to its badge in the panel (a kernel, monitoring every {EVERY_SECONDS} s; "
        f"aim under {BADGE_AIM_MS:.0f} ms)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args(argv)
    run(**(QUICK if args.quick else {"rounds": args.rounds, "seconds": args.seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
