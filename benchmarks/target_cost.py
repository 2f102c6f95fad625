"""Cost to the target: `pgbench --select-only` latency with and without the lock probe
running once a second, as monitoring does during an incident.

The server is mid-incident while it serves pgbench: a migration holds ACCESS
EXCLUSIVE on another table with 100 readers queued behind it, so every probe round
finds and explains 100 waiters. Three arms alternate, in an order that reverses each
round (A B C, C B A, …) so that drift on a shared machine hits them alike:

- without: pgbench alone;
- server's share: once a second, exactly what the probe asks of the server (its
  login with the probe's session settings, `lock_tree.sql`, logout) and nothing else;
- the probe: once a second, `incident_lab.run`, which also builds the blocking
  forest, the evidence and the result on the client.

On this one machine the monitoring client shares two cores with pgbench and the
server, which a client on another machine would not: the monitoring loops run at the
lowest CPU priority, and the server's-share arm separates what the target pays from
what the client's own Python costs. Because run-to-run noise is larger than the
effect, the server CPU one round costs is also measured directly, from the
postmaster's totals for sessions that ended.

    .venv/bin/python benchmarks/target_cost.py            # 4 rounds of 20 s runs
    .venv/bin/python benchmarks/target_cost.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import incident_lab
from incident_lab import scenarios
from incident_lab.embedded import SUPERUSER, postgres_bin_dir
from incident_lab.kinds.postgres.session import PostgresTarget
from incident_lab.runner import default_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    Server,
    embedded_server,
    machine,
    median,
    print_machine,
    print_table,
    ratio,
    server_cpu_seconds,
)

DATABASE = "bench"
PROBE_ID = "postgres.lock_contention"
LATENCY = re.compile(r"latency average = ([\d.]+) ms")
TPS = re.compile(r"tps = ([\d.]+)")
ARMS = ("without", "server's share", "the probe")

# Tiny sizes for --quick and the test suite: every step runs; the figures mean nothing.
QUICK: dict[str, Any] = {"rounds": 1, "seconds": 1, "scale": 1, "clients": 2, "waiters": 3}


def pgbench(server: Server, *args: str) -> str:
    environment = {**os.environ, "PGPASSWORD": server.postgres.password}
    completed = subprocess.run(
        [
            str(postgres_bin_dir() / "pgbench"),
            "-h",
            "127.0.0.1",
            "-p",
            str(server.postgres.port),
            "-U",
            SUPERUSER,
            *args,
            DATABASE,
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout + completed.stderr


def select_only(server: Server, seconds: int, clients: int) -> tuple[float, float]:
    """Average latency (ms) and transactions per second of one pgbench run."""
    output = pgbench(server, "--select-only", "-n", "-c", str(clients), "-j", "2", "-T", str(seconds))
    latency, tps = LATENCY.search(output), TPS.search(output)
    if latency is None or tps is None:
        raise RuntimeError(f"pgbench printed no latency: {output[-500:]}")
    return float(latency[1]), float(tps[1])


def server_cpu_per_round(server: Server, rounds: int) -> float:
    """Seconds of server CPU one probe round costs: login, query, logout."""
    dsn = server.tcp_dsn(DATABASE)
    incident_lab.run(PROBE_ID, dsn)
    before = server_cpu_seconds(server)
    for _ in range(rounds):
        incident_lab.run(PROBE_ID, dsn)
    return (server_cpu_seconds(server) - before) / rounds


def servers_share(dsn: str) -> None:
    """What one probe round asks of the server, without the client's analysis."""
    probe = default_registry().get(PROBE_ID)
    with PostgresTarget.parse(dsn).session(probe, probe.budget_seconds) as session:
        session.query("lock_tree", {"all_databases": False})


def monitor(arm: str, dsn: str, seconds: float) -> None:
    """A monitoring loop: once started and warm, waits for a line on stdin, then does its
    round once a second for `seconds` and prints how many rounds and how long they took."""
    round_once = (
        (lambda: incident_lab.run(PROBE_ID, dsn)) if arm == "the probe" else (lambda: servers_share(dsn))
    )
    round_once()  # imports and a first login, before pgbench starts
    print("ready", flush=True)
    sys.stdin.readline()
    taken = []
    deadline = time.monotonic() + seconds
    while (started := time.monotonic()) < deadline:
        round_once()
        taken.append(time.monotonic() - started)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    print(json.dumps({"rounds": len(taken), "median_seconds": median(taken)}))


def start_monitor(arm: str, dsn: str, seconds: float) -> subprocess.Popen[str]:
    watcher = subprocess.Popen(
        [sys.executable, __file__, "--monitor", arm, dsn, "--seconds", str(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.nice(19),
    )
    assert watcher.stdout is not None and watcher.stdin is not None
    watcher.stdout.readline()  # ready
    watcher.stdin.write("go\n")
    watcher.stdin.flush()
    return watcher


def run(
    rounds: int = 4, seconds: int = 20, scale: int = 5, clients: int = 4, waiters: int = 100
) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {arm: [] for arm in ARMS}
    throughput: dict[str, list[float]] = {arm: [] for arm in ARMS}
    monitored: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS[1:]}
    with embedded_server(max_connections=waiters + 60) as server:
        server.create_database(DATABASE)
        facts = machine(server.version())
        pgbench(server, "-i", "-q", "-s", str(scale))
        select_only(server, max(1, seconds // 4), clients)  # warm the cache, untimed
        with scenarios.migration_holds_lock(server.socket_dsn(DATABASE), table="orders", readers=waiters):
            cpu_per_round = server_cpu_per_round(server, max(5, rounds * 5))
            for number in range(rounds):
                for arm in ARMS if number % 2 == 0 else reversed(ARMS):
                    print(f"  pgbench, {arm} …", file=sys.stderr)
                    dsn = server.tcp_dsn(DATABASE)
                    watcher = start_monitor(arm, dsn, seconds) if arm != "without" else None
                    latency, tps = select_only(server, seconds, clients)
                    latencies[arm].append(latency)
                    throughput[arm].append(tps)
                    if watcher is not None:
                        out, _ = watcher.communicate(timeout=seconds + 30)
                        monitored[arm].append(json.loads(out))
    print_machine(facts)
    base = median(latencies["without"])
    rows = []
    for arm in ARMS:
        latency = median(latencies[arm])
        rounds_done = sum(r["rounds"] for r in monitored.get(arm, []))
        round_time = median([r["median_seconds"] for r in monitored.get(arm, [])])
        rows.append(
            [
                arm,
                len(latencies[arm]),
                f"{latency:.3f} ms",
                f"{(latency - base) / base * 100:+.1f}%",
                ratio(latency, base),
                f"{median(throughput[arm]):.0f}",
                rounds_done or "",
                f"{round_time * 1000:.0f} ms" if rounds_done else "",
            ]
        )
    print_table(
        ["", "runs", "latency (median)", "added", "÷ without", "tps (median)", "rounds", "round (median)"],
        rows,
        f"pgbench --select-only, scale {scale}, {clients} clients, {seconds} s runs, "
        f"{waiters} sessions waiting on a lock throughout",
    )
    share = cpu_per_round / (os.cpu_count() or 1) * 100
    print(
        f"Server CPU per probe round: {cpu_per_round * 1000:.1f} ms; once a second that is "
        f"{share:.2f}% of the server's {os.cpu_count()} cores"
    )
    print()
    print_table(
        ["round", *ARMS],
        [[number + 1, *(f"{latencies[arm][number]:.3f} ms" for arm in ARMS)] for number in range(rounds)],
        "Each run (noise on a shared machine)",
    )
    added = {arm: (median(latencies[arm]) - base) / base * 100 for arm in ARMS[1:]}
    return {
        "machine": facts,
        "latency_ms": {arm: median(values) for arm, values in latencies.items()},
        "added_percent": added,
        "monitored": monitored,
        "server_cpu_per_round": cpu_per_round,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--monitor", nargs=2, metavar=("ARM", "DSN"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.monitor:
        monitor(args.monitor[0], args.monitor[1], args.seconds)
    elif args.quick:
        run(**QUICK)
    else:
        run(rounds=args.rounds, seconds=args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
