"""Archive: `incident-lab list` over 10,000 archived runs.

A synthetic archive with the real layout (`ARCHIVE/<date>-<slug>/run-NNN/` holding
summary.json, results.json, report.html, investigation.ipynb, metrics.csv and
charts/) of 2,500 incidents with 4 runs each. `incident-lab list` runs as a person runs
it, a fresh process with its output piped; beside it, in the same run, what reading
the runs one by one costs at the least (a bare Python script that walks the archive and
parses every summary.json) and `python -c pass`. The first listing, which finds no
index and reads every run, is timed on its own. Afterwards a run is added through the
archive's own commit and another removed, and the listing must show both changes.

    .venv/bin/python benchmarks/archive_list.py            # 10,000 runs
    .venv/bin/python benchmarks/archive_list.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from incident_lab.archive.store import Archive

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine, median, ms, print_machine, print_table, ratio

BIN = Path(sys.executable).parent
SEVERITIES = ("Critical", "High", "Medium", "Low")
STATUSES = ("Investigating", "Identified", "Monitoring", "Resolved")
# The least any listing must do: find every run and parse its summary.
FLOOR = """
import json, os, sys
count = 0
for incident in os.scandir(sys.argv[1]):
    if incident.name.startswith("."):
        continue
    for run in os.scandir(incident.path):
        with open(os.path.join(run.path, "summary.json")) as handle:
            json.load(handle)
        count += 1
print(count)
"""

# Tiny sizes for --quick and the test suite: every step runs; the figures mean nothing.
QUICK: dict[str, Any] = {"incidents": 5, "runs_per_incident": 2, "repeats": 1}


def run_summary(number: int, run_number: int, when: dt.datetime) -> dict[str, Any]:
    """The summary.json of run `run_number` of incident `number`, as `incident-lab run` writes it."""
    finished = when + dt.timedelta(minutes=20 * run_number)
    return {
        "incident": f"Checkout failing {number}",
        "date": f"{when:%Y-%m-%d}",
        "severity": SEVERITIES[number % 4],
        "status": STATUSES[min(run_number - 1, 3)],
        "outcome": "completed",
        "error": None,
        "finished_at": finished.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "verdicts": {"True": 1, "False": 5, "Inconclusive": run_number % 2},
    }


def make_archive(root: Path, incidents: int, runs_per_incident: int) -> int:
    """Write the archive; return the number of runs."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for number in range(incidents):
        when = start + dt.timedelta(hours=3 * number)
        slug = f"checkout-failing-{number:05d}"
        incident = root / f"{when:%Y-%m-%d}-{slug}"
        for run_number in range(1, runs_per_incident + 1):
            folder = incident / f"run-{run_number:03d}"
            (folder / "charts").mkdir(parents=True)
            summary = run_summary(number, run_number, when)
            (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
            (folder / "results.json").write_text(json.dumps({"incident": summary, "results": []}) + "\n")
            (folder / "report.html").write_text("<!DOCTYPE html><title>report</title>\n")
            (folder / "investigation.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4}\n')
            (folder / "metrics.csv").write_text("round,hypothesis,probe,target,metric,value,unit,at\n")
    return incidents * runs_per_incident


def timed(command: Sequence[str]) -> tuple[float, str]:
    started = time.perf_counter()
    completed = subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, completed.stdout


def run(incidents: int = 2500, runs_per_incident: int = 4, repeats: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="incident_lab_archive_") as folder:
        root = Path(folder) / "incident-archive"
        started = time.perf_counter()
        runs = make_archive(root, incidents, runs_per_incident)
        made = time.perf_counter() - started
        commands = {
            "incident-lab list": [str(BIN / "incident-lab"), "list", "--archive", str(root)],
            "floor: walk + parse every summary.json": [sys.executable, "-c", FLOOR, str(root)],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        first, _ = timed(commands["incident-lab list"])
        times: dict[str, list[float]] = {name: [] for name in commands}
        listed = ""
        for _ in range(repeats):
            for name, command in commands.items():
                taken, output = timed(command)
                times[name].append(taken)
                listed = output if name == "incident-lab list" else listed
        kept_up = changes_shown(root, commands["incident-lab list"])
    listed_runs = sum(1 for line in listed.splitlines() if line.startswith("  run-"))
    facts = machine()
    print_machine(facts)
    ours = median(times["incident-lab list"])
    print_table(
        ["command", "median", "÷ floor", "÷ python -c pass"],
        [
            [
                name,
                ms(median(values)),
                ratio(median(values), median(times[list(commands)[1]])),
                ratio(median(values), median(times["python -c pass"])),
            ]
            for name, values in times.items()
        ]
        + [["incident-lab list, the first time (no index yet)", ms(first), "", ""]],
        f"Listing {runs:,} runs of {incidents:,} incidents ({repeats} times each; written in {made:.0f} s)",
    )
    print(f"incident-lab list printed {listed_runs:,} runs; aim under 1 s: {'met' if ours < 1 else 'missed'}")
    print(f"A run added and a run removed show in the next listing: {'yes' if kept_up else 'NO'}")
    print()
    return {
        "machine": facts,
        "runs": runs,
        "listed_runs": listed_runs,
        "times": times,
        "first_seconds": first,
        "kept_up": kept_up,
    }


def changes_shown(root: Path, listing: Sequence[str]) -> bool:
    """Add a run the way `incident-lab run` does and remove another; list again."""
    archive = Archive(root)
    added_to, removed_from = sorted(archive.incident_folders())[:2]
    staged = archive.staging_dir()
    summary = {"incident": "added", "outcome": "failed", "finished_at": "2027-01-01T00:00:00.000Z"}
    (staged / "summary.json").write_text(json.dumps(summary))
    added = archive.commit(staged, added_to, archive.claim_run(added_to))
    removed = sorted(removed_from.iterdir())[-1]
    shutil.rmtree(removed)
    listed: dict[str, list[str]] = {}
    incident = ""
    for line in timed(listing)[1].splitlines():
        if line.startswith("  "):
            listed[incident].append(line.split()[0])
        else:
            incident = line.split()[0]
            listed[incident] = []
    return added.name in listed[added_to.name] and removed.name not in listed[removed_from.name]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        run(**QUICK)
    else:
        run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
