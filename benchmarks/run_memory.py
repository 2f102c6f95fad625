"""Memory of an investigation: the peak resident memory of the `incident-lab run` process
and of its notebook kernel, for the demo and for a run against a thousand waiting
sessions, beside a bare papermill kernel that only imports the template's libraries;
and the size of what each run archived.

Each command is a fresh process, as a person starts it. While it runs, its process tree
is read from /proc every 20 ms: the command itself, its kernel (the `ipykernel`
descendant) and, for the demo, the embedded PostgreSQL it starts (counted apart, not
ours). A process's peak is its `VmHWM`, the kernel's high-water mark of resident
memory, read until the process exits (so a peak in the last 20 ms of a process's life
could be missed; the kernel's is reached while cells run, well before it is shut down).

    .venv/bin/python benchmarks/run_memory.py            # the demo, 1,000 waiters, 3 runs each
    .venv/bin/python benchmarks/run_memory.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident_lab import scenarios

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import bare_notebook
from harness import embedded_server, machine, median, print_machine, print_table

BIN = Path(sys.executable).parent
WAITERS = 1000
HEADROOM = 60
POLL_SECONDS = 0.02
# What the kernel may take, as the issue sets it.
KERNEL_AIM_MB = 250

# Tiny sizes for --quick and the test suite: every step runs; the figures mean nothing.
QUICK: dict[str, Any] = {"waiters": 3, "repeats": 1}


@dataclass
class Peaks:
    """Peak resident memory in MB of each part of one command's process tree."""

    command: float = 0.0
    kernel: float = 0.0
    server: float = 0.0  # the demo's embedded PostgreSQL, all its processes summed at their peaks
    seconds: float = 0.0
    archived: dict[str, int] = field(default_factory=dict)  # bytes per file the run archived


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        for child in _children(stack.pop()):
            found.append(child)
            stack.append(child)
    return found


def _high_water_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _role(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return "other"
    if b"ipykernel" in command:
        return "kernel"
    if b"postgres" in command.split(b" ")[0]:
        return "server"
    return "other"


def measured(command: Sequence[str], cwd: Path) -> Peaks:
    """Run `command` and follow its process tree's memory until it exits."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks = Peaks()
    servers: dict[int, float] = {}
    while True:
        own = _high_water_mb(process.pid)
        if own is not None:
            peaks.command = max(peaks.command, own)
        for pid in _descendants(process.pid):
            role, high = _role(pid), _high_water_mb(pid)
            if high is None:
                continue
            if role == "kernel":
                peaks.kernel = max(peaks.kernel, high)
            elif role == "server":
                servers[pid] = max(servers.get(pid, 0.0), high)
        if process.poll() is not None:
            break
        time.sleep(POLL_SECONDS)
    peaks.seconds = time.perf_counter() - started
    peaks.server = sum(servers.values())
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {process.returncode}: {errors.strip()[-500:]}")
    return peaks


def archived_sizes(archive: Path) -> dict[str, int]:
    """Bytes of the newest run's files, by name (charts summed)."""
    runs = sorted(archive.glob("*/run-*"), key=lambda run: run.stat().st_mtime)
    sizes: dict[str, int] = {}
    for path in runs[-1].rglob("*"):
        if path.is_file():
            name = "charts" if path.parent.name == "charts" else path.name
            sizes[name] = sizes.get(name, 0) + path.stat().st_size
    return sizes


def run(waiters: int = WAITERS, repeats: int = 3) -> dict[str, Any]:
    """Measure each command `repeats` times, alternating; print the tables; return the figures."""
    arms: dict[str, list[Peaks]] = {"demo": [], "waiters": [], "bare": []}
    with (
        embedded_server(max_connections=max(100, waiters + HEADROOM)) as server,
        tempfile.TemporaryDirectory(prefix="incident_lab_memory_") as folder,
    ):
        work = Path(folder)
        server.create_database("shop")
        facts = machine(server.version())
        bare = work / "bare.ipynb"
        bare_notebook(bare)
        investigation = [
            str(BIN / "incident-lab"),
            "run",
            "--incident",
            "Checkout failing",
            "--severity",
            "Critical",
            "--commander",
            "@bench",
            "--target",
            f"postgres={server.tcp_dsn('shop')}",
            "--archive",
            str(work / "waiters"),
        ]
        demo = [str(BIN / "incident-lab"), "demo", "--archive", str(work / "demo")]
        papermill = [str(BIN / "papermill"), "--no-progress-bar", str(bare), str(work / "bare-out.ipynb")]
        with scenarios.migration_queued(server.socket_dsn("shop"), table="orders", readers=waiters):
            for round_number in range(repeats):
                print(f"  round {round_number + 1} of {repeats} …", file=sys.stderr)
                arms["waiters"].append(measured(investigation, work))
                arms["waiters"][-1].archived = archived_sizes(work / "waiters")
                arms["demo"].append(measured(demo, work))
                arms["demo"][-1].archived = archived_sizes(work / "demo")
                arms["bare"].append(measured(papermill, work))
    print_machine(facts)
    report(arms, waiters)
    return {"machine": facts, "arms": arms, "waiters": waiters}


def _mb(value: float) -> str:
    return f"{value:.0f} MB"


def report(arms: dict[str, list[Peaks]], waiters: int) -> None:
    names = {
        "demo": "incident-lab demo (its own embedded PostgreSQL, 3 readers queued)",
        "waiters": f"incident-lab run, default hypotheses, {waiters + 1} sessions waiting",
        "bare": "papermill of a notebook that only imports the template's libraries",
    }
    headers = [
        "command",
        "runs",
        "wall time",
        "command's process",
        "its kernel",
        f"kernel ÷ {KERNEL_AIM_MB} MB aim",
        "embedded PostgreSQL",
    ]
    rows = []
    for arm, peaks in arms.items():
        kernel = median([p.kernel for p in peaks])
        rows.append(
            [
                names[arm],
                len(peaks),
                f"{median([p.seconds for p in peaks]):.2f} s",
                _mb(median([p.command for p in peaks])),
                _mb(kernel),
                f"{kernel / KERNEL_AIM_MB:.2f}x",
                _mb(median([p.server for p in peaks])) if arm == "demo" else "",
            ]
        )
    print_table(headers, rows, "Peak resident memory (VmHWM, median)")
    files = sorted({name for arm in ("demo", "waiters") for p in arms[arm] for name in p.archived})
    headers = ["run", *files]
    rows = [
        [
            names[arm],
            *(f"{median([p.archived.get(name, 0) for p in arms[arm]]) / 1024:.0f} KiB" for name in files),
        ]
        for arm in ("demo", "waiters")
    ]
    print_table(headers, rows, "What the run archived (median size)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--waiters", type=int, default=WAITERS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        run(**QUICK)
    else:
        run(waiters=args.waiters, repeats=args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
