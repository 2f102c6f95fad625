"""Throughput: investigations per minute one machine sustains with `incident-lab run` in parallel.

Each worker runs `incident-lab run` (the template, the postgres kind's default
hypotheses, report and archive) again and again, each a fresh process as a job engine
would start it, against the embedded server, into one shared archive folder; 1, 2 and
4 workers at once, side by side in one run. Reported: investigations per minute over
the whole wave, the median wall time of one investigation, and the CPU seconds one
costs (this process's children: the command, its kernel; the server's share is not
counted). Every run must be archived complete under a number of its own.

    .venv/bin/python benchmarks/throughput.py            # 1, 2 and 4 workers, 3 runs each
    .venv/bin/python benchmarks/throughput.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from incident_lab.archive.store import Archive

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import embedded_server, machine, median, print_machine, print_table

BIN = Path(sys.executable).parent
# Tiny sizes for --quick and the test suite: every step runs; the figures mean nothing.
QUICK: dict[str, Any] = {"workers": (1, 2), "runs_per_worker": 1}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wave(command: Sequence[str], workers: int, runs_per_worker: int, cwd: Path) -> dict[str, Any]:
    """`workers` loops of `runs_per_worker` runs each, all at once."""

    def worker() -> list[float]:
        taken = []
        for _ in range(runs_per_worker):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd=cwd)
            taken.append(time.perf_counter() - started)
        return taken

    cpu_before, started = children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        times = [t for loop in pool.map(lambda _: worker(), range(workers)) for t in loop]
    wall = time.perf_counter() - started
    runs = workers * runs_per_worker
    return {
        "workers": workers,
        "runs": runs,
        "wall": wall,
        "per_minute": runs / wall * 60,
        "median_run": median(times),
        "cpu_per_run": (children_cpu() - cpu_before) / runs,
    }


def run(workers: Sequence[int] = (1, 2, 4), runs_per_worker: int = 3) -> dict[str, Any]:
    with (
        embedded_server() as server,
        tempfile.TemporaryDirectory(prefix="incident_lab_throughput_") as folder,
    ):
        work = Path(folder)
        server.create_database("shop")
        facts = machine(server.version())
        archive = work / "archive"
        command = [
            str(BIN / "incident-lab"),
            "run",
            "--incident",
            "Checkout failing",
            "--severity",
            "High",
            "--target",
            f"postgres={server.tcp_dsn('shop')}",
            "--archive",
            str(archive),
        ]
        waves = []
        for count in workers:
            print(f"  {count} at once, {runs_per_worker} runs each …", file=sys.stderr)
            waves.append(wave(command, count, runs_per_worker, work))
        listed = Archive(archive)
        runs = [r for f in listed.incident_folders() for r in listed.runs(f)]
    expected = sum(w["runs"] for w in waves)
    complete = sum(r.data.get("outcome") == "completed" for r in runs)
    print_machine({**facts, "cores": str(os.cpu_count())})
    print_table(
        ["at once", "investigations", "wall", "investigations / minute", "one run (median)", "CPU s / run"],
        [
            [
                w["workers"],
                w["runs"],
                f"{w['wall']:.1f} s",
                f"{w['per_minute']:.1f}",
                f"{w['median_run']:.1f} s",
                f"{w['cpu_per_run']:.1f}",
            ]
            for w in waves
        ],
        "incident-lab run in parallel (postgres default hypotheses, report and archive)",
    )
    print(f"Archived: {len(runs)} runs of the {expected} started, {complete} of them complete")
    print()
    return {
        "machine": facts,
        "waves": waves,
        "archived": len(runs),
        "complete": complete,
        "expected": expected,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--runs-per-worker", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        run(**QUICK)
    else:
        run(runs_per_worker=args.runs_per_worker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
