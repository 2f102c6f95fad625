"""Cost to the target of `postgres.wait_events`: `pgbench --select-only` latency and the
server's CPU with and without the probe sampling pg_stat_activity, in the same run.

The server holds 100 idle client connections besides pgbench's (as an application's
pool leaves them), so that every sample reads a realistic pg_stat_activity. Three arms
alternate, in an order that reverses each round so that drift on a shared machine hits
them alike:

- without: pgbench alone;
- once a second: one probe run for the whole pgbench run, one sample a second
  (`samples` = `window_seconds` = the run's length), as monitoring would sample;
- ten a second: the probe's default (20 samples over 2 s) run back to back.

The monitoring loops run at the lowest CPU priority, standing in for a client on another
machine. Because run-to-run noise is larger than the effect, what a sample costs the
server is also measured directly: the postmaster's CPU totals for ended sessions, over
probe runs of few and of many samples, so that the login's share drops out.

    .venv/bin/python benchmarks/wait_events_cost.py            # 4 rounds of 20 s runs
    .venv/bin/python benchmarks/wait_events_cost.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import incident_lab
from incident_lab import scenarios

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import embedded_server, machine, median, print_machine, print_table, ratio
from target_cost import DATABASE, pgbench, select_only, server_cpu_seconds

PROBE_ID = "postgres.wait_events"
ARMS = ("without", "once a second", "ten a second")
FEW, MANY = 10, 100  # samples per probe run, for the server's CPU per sample

QUICK: dict[str, Any] = {"rounds": 1, "seconds": 2, "scale": 1, "clients": 2, "idle": 3, "cpu_runs": 1}


def monitor(arm: str, dsn: str, seconds: float) -> None:
    """A monitoring process: warm, waits for a line on stdin, then samples for `seconds`
    and prints how many samples it took and what one cost the client, as JSON."""
    incident_lab.run(PROBE_ID, dsn, {"window_seconds": 0.2, "samples": 2})  # imports, a first login
    print("ready", flush=True)
    sys.stdin.readline()
    taken, costs = 0, []
    deadline = time.monotonic() + seconds
    if arm == "once a second":
        whole = max(1, int(seconds))
        params = {"window_seconds": whole, "samples": whole, "budget_seconds": whole + 10}
        result = incident_lab.run(PROBE_ID, dsn, params)
        taken, costs = whole, [result.metric("sample_ms")]
    else:
        while time.monotonic() < deadline:
            result = incident_lab.run(PROBE_ID, dsn)
            taken += 20
            costs.append(result.metric("sample_ms"))
    print(json.dumps({"samples": taken, "sample_ms": median(costs), "verdict": result.verdict.json}))


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


def server_cpu_per_sample(dsn: str, server: Any, runs: int) -> tuple[float, float]:
    """Server CPU seconds for one sample, and for one probe run's login and logout."""
    per_run: dict[int, float] = {}
    for samples in (FEW, MANY):
        incident_lab.run(PROBE_ID, dsn, {"window_seconds": 0.1, "samples": samples})
        before = server_cpu_seconds(server)
        for _ in range(runs):
            incident_lab.run(PROBE_ID, dsn, {"window_seconds": 0.1, "samples": samples})
        per_run[samples] = (server_cpu_seconds(server) - before) / runs
    per_sample = max(0.0, (per_run[MANY] - per_run[FEW]) / (MANY - FEW))
    return per_sample, max(0.0, per_run[FEW] - FEW * per_sample)


def run(
    rounds: int = 4, seconds: int = 20, scale: int = 5, clients: int = 4, idle: int = 100, cpu_runs: int = 5
) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {arm: [] for arm in ARMS}
    throughput: dict[str, list[float]] = {arm: [] for arm in ARMS}
    monitored: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS[1:]}
    with embedded_server(max_connections=idle + 60) as server:
        server.create_database(DATABASE)
        facts = machine(server.version())
        pgbench(server, "-i", "-q", "-s", str(scale))
        select_only(server, max(1, seconds // 4), clients)  # warm the cache, untimed
        dsn = server.tcp_dsn(DATABASE)
        with scenarios.idle_connections(server.socket_dsn(DATABASE), idle):
            per_sample, per_login = server_cpu_per_sample(dsn, server, cpu_runs)
            for number in range(rounds):
                for arm in ARMS if number % 2 == 0 else reversed(ARMS):
                    print(f"  pgbench, {arm} …", file=sys.stderr)
                    watcher = start_monitor(arm, dsn, seconds) if arm != "without" else None
                    latency, tps = select_only(server, seconds, clients)
                    latencies[arm].append(latency)
                    throughput[arm].append(tps)
                    if watcher is not None:
                        out, _ = watcher.communicate(timeout=seconds + 60)
                        monitored[arm].append(json.loads(out))
    print_machine(facts)
    base = median(latencies["without"])
    rows = []
    for arm in ARMS:
        latency = median(latencies[arm])
        samples = sum(r["samples"] for r in monitored.get(arm, []))
        rows.append(
            [
                arm,
                len(latencies[arm]),
                f"{latency:.3f} ms",
                f"{(latency - base) / base * 100:+.1f}%",
                ratio(latency, base),
                f"{median(throughput[arm]):.0f}",
                samples or "",
                f"{median([r['sample_ms'] for r in monitored.get(arm, [])]):.2f} ms" if samples else "",
            ]
        )
    print_table(
        ["", "runs", "latency (median)", "added", "÷ without", "tps (median)", "samples", "sample (median)"],
        rows,
        f"pgbench --select-only, scale {scale}, {clients} clients, {seconds} s runs, "
        f"{idle} idle client connections besides",
    )
    cores = os.cpu_count() or 1
    print(
        f"Server CPU per sample: {per_sample * 1e3:.3f} ms ({per_sample * 100 / cores:.3f}% of the "
        f"server's {cores} cores at one sample a second, {per_sample * 1000 / cores:.2f}% at ten); "
        f"per probe run's login and logout: {per_login * 1e3:.1f} ms"
    )
    print()
    print_table(
        ["round", *ARMS],
        [[number + 1, *(f"{latencies[arm][number]:.3f} ms" for arm in ARMS)] for number in range(rounds)],
        "Each run (noise on a shared machine)",
    )
    return {
        "machine": facts,
        "latency_ms": {arm: median(values) for arm, values in latencies.items()},
        "added_percent": {arm: (median(latencies[arm]) - base) / base * 100 for arm in ARMS[1:]},
        "monitored": monitored,
        "server_cpu_per_sample": per_sample,
        "server_cpu_per_login": per_login,
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
