"""End to end: `incident-lab run` of the investigation template against a bare
`papermill` plus `jupyter nbconvert --to html` of a notebook that only imports the
libraries the template uses; and `incident-lab probe` from a cold start.

The run tests one hypothesis with no sampling window (postgres.lock_contention)
against an embedded server where a migration holds a lock with three readers queued,
as in the demo. The two pipelines alternate, each a fresh process as a person starts
it.

Cold start is measured up to the moment the probe connects: a local socket accepts
the probe's connection and notes when it arrived, then hangs up. The same command
runs under `python -X importtime` to name what its imports cost, and the modules it
loaded are checked for pandas, matplotlib and the Jupyter machinery.

    .venv/bin/python benchmarks/end_to_end.py            # 5 of each
    .venv/bin/python benchmarks/end_to_end.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat

from incident_lab import scenarios

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import embedded_server, machine, median, ms, print_machine, print_table, ratio

BIN = Path(sys.executable).parent
PROBE_ID = "postgres.lock_contention"
# What the template's cells bring into the kernel besides incident_lab itself.
TEMPLATE_LIBRARIES = """\
import pandas
import matplotlib
from matplotlib.figure import Figure
import ipywidgets
from IPython.display import HTML, Markdown, display
import psycopg
"""
HEAVY = (
    "pandas",
    "numpy",
    "matplotlib",
    "IPython",
    "ipykernel",
    "ipywidgets",
    "jupyter_client",
    "nbformat",
    "nbconvert",
    "papermill",
    "jinja2",
    "yaml",
)

# Tiny sizes for --quick and the test suite: every step runs; the figures mean nothing.
QUICK: dict[str, Any] = {"repeats": 1, "cold_repeats": 1}


def timed(command: Sequence[str], **options: Any) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, **options)
    return time.perf_counter() - started


def bare_notebook(path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(TEMPLATE_LIBRARIES)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, str(path))


def pipelines(repeats: int) -> dict[str, list[float]]:
    """Wall times of `incident-lab run` and of bare papermill plus nbconvert, alternating."""
    times: dict[str, list[float]] = {"incident-lab run": [], "papermill + nbconvert (bare)": []}
    with embedded_server() as server, tempfile.TemporaryDirectory(prefix="incident_lab_e2e_") as folder:
        work = Path(folder)
        server.create_database("shop")
        bare = work / "bare.ipynb"
        bare_notebook(bare)
        run = [
            str(BIN / "incident-lab"),
            "run",
            "--incident",
            "Checkout failing",
            "--severity",
            "Critical",
            "--commander",
            "@bench",
            "--hypothesis",
            PROBE_ID,
            "--target",
            f"postgres={server.tcp_dsn('shop')}",
            "--archive",
            str(work / "archive"),
        ]
        executed = work / "bare-out.ipynb"
        papermill = [str(BIN / "papermill"), "--no-progress-bar", str(bare), str(executed)]
        nbconvert = [str(BIN / "jupyter"), "nbconvert", "--to", "html", str(executed)]
        with scenarios.migration_holds_lock(server.socket_dsn("shop"), readers=3):
            for round_number in range(repeats):
                print(f"  round {round_number + 1} of {repeats} …", file=sys.stderr)
                times["incident-lab run"].append(timed(run, cwd=work))
                times["papermill + nbconvert (bare)"].append(
                    timed(papermill, cwd=work) + timed(nbconvert, cwd=work)
                )
    return times


def until_connect(command: Sequence[str], listener: socket.socket) -> float:
    """Seconds from starting `command` to its first connection to `listener`."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    connection, _ = listener.accept()
    arrived = time.perf_counter() - started
    connection.close()
    process.wait(timeout=30)
    return arrived


def cold_start(repeats: int) -> dict[str, Any]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(30)
        target = f"postgres=postgresql://cold:start@127.0.0.1:{listener.getsockname()[1]}/shop"
        probe = [
            str(BIN / "incident-lab"),
            "probe",
            PROBE_ID,
            "--target",
            target,
            "--param",
            "budget_seconds=2",
        ]
        python = [sys.executable, "-c", "pass"]
        connect = [
            sys.executable,
            "-c",
            "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close()",
            str(listener.getsockname()[1]),
        ]
        times: dict[str, list[float]] = {"probe": [], "python": [], "connect": []}
        for _ in range(repeats):
            times["probe"].append(until_connect(probe, listener))
            times["python"].append(timed(python))
            times["connect"].append(until_connect(connect, listener))
        loaded = _modules_loaded()
        imports = _import_times(probe)
    return {
        "times": {name: median(values) for name, values in times.items()},
        "loaded": loaded,
        "imports": imports,
    }


def _modules_loaded() -> list[str]:
    """Which heavy libraries `incident-lab probe` has imported by the time it gives up on
    a refused connection (the path to a connection, without the wait)."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    target = f"postgres=postgresql://cold:start@127.0.0.1:{port}/shop"
    script = (
        "import json, sys\n"
        "from incident_lab.cli import main\n"
        f"main(['probe', {PROBE_ID!r}, '--target', {target!r}])\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n"
    )
    # Not from the checkout: there `incident_lab/` would shadow the installed package.
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tempfile.gettempdir()
    )
    return list(json.loads(completed.stderr.strip().splitlines()[-1]))


def _import_times(command: Sequence[str]) -> list[tuple[str, float]]:
    """The slowest top-level imports of `command`, by cumulative time."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN / "incident-lab"), *command[1:]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    cumulative: dict[str, float] = {}
    for line in completed.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if len(name) - len(name.lstrip()) == 1:  # imported by the program itself, not by a module
            cumulative[name.strip()] = int(parts[1]) / 1e6
    return sorted(cumulative.items(), key=lambda item: item[1], reverse=True)[:8]


def run(repeats: int = 5, cold_repeats: int = 10) -> dict[str, Any]:
    times = pipelines(repeats)
    cold = cold_start(cold_repeats)
    facts = machine()
    print_machine(facts)
    ours, bare = median(times["incident-lab run"]), median(times["papermill + nbconvert (bare)"])
    print_table(
        ["pipeline", "runs", "wall time (median)", "÷ bare"],
        [
            [
                "incident-lab run (template, 1 hypothesis, archive + report)",
                repeats,
                f"{ours:.2f} s",
                ratio(ours, bare),
            ],
            ["papermill + jupyter nbconvert --to html (imports only)", repeats, f"{bare:.2f} s", "1.00x"],
        ],
        "Investigation run against a bare notebook run",
    )
    start = cold["times"]
    print_table(
        ["from process start to", "median", "÷ python -c pass"],
        [
            ["`python -c pass` exits", ms(start["python"]), "1.00x"],
            ["a bare Python script connects", ms(start["connect"]), ratio(start["connect"], start["python"])],
            ["`incident-lab probe` connects", ms(start["probe"]), ratio(start["probe"], start["python"])],
        ],
        f"Cold start of incident-lab probe ({cold_repeats} runs)",
    )
    loaded = ", ".join(cold["loaded"]) or "none"
    print(f"Heavy libraries imported before the probe connects: {loaded}")
    print(
        "Slowest imports (python -X importtime, cumulative): "
        + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in cold["imports"])
    )
    print()
    return {"machine": facts, "pipelines": times, "cold_start": cold}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.quick:
        run(**QUICK)
    else:
        run(repeats=args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
