"""Archive on S3: `incident-lab list` over 10,000 runs in a bucket, on moto's S3 server.

The bucket holds the layout a team's archive has (`PREFIX/<date>-<slug>/run-NNN/` with
summary.json and results.json, each complete run's journal entry
`PREFIX/.journal/<hour>/<date>-<slug>/run-NNN` and marker
`PREFIX/.complete/<date>-<slug>/run-NNN.json`) for 2,500 incidents with 4 runs each; the
other files of a run (report, notebook, charts) are left out, which only makes the bare
arms' listings shorter. `incident-lab list --archive s3://…` runs as a person runs it, a
fresh process reaching the server through the AWS variables: as it mostly runs (a fresh
index, then the journal's latest hours), and as it runs once an hour (the index listed
whole over an hour ago: all of `.complete/`). Beside them, in the same run, a bare s3fs
listing of the markers alone (the least a listing by prefix costs), a bare s3fs script
that globs every run's summary.json and reads them all, as this archive did before its
index (once: it takes minutes), and `python -c pass`. The first listing, which finds no
index and builds it from the markers, is timed on its own. Afterwards a run is added
through the archive's own API and must show in the next listing.

    .venv/bin/python benchmarks/archive_list_s3.py            # 10,000 runs
    .venv/bin/python benchmarks/archive_list_s3.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import fsspec

from incident_lab.archive.remote import (
    COMPLETE,
    FULL_LISTING_EVERY,
    INDEX,
    JOURNAL,
    journal_hour,
    open_archive,
)
from incident_lab.testing.s3 import S3Server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from archive_list import run_summary
from harness import machine, median, ms, print_machine, print_table, ratio

BIN = Path(sys.executable).parent
PREFIX = "team-archive"
# Listing without an index: find every run's summary and read each one.
BARE = """
import json, sys
import fsspec
fs, root = fsspec.core.url_to_fs(sys.argv[1])
paths = fs.glob(f"{root}/*/run-*/summary.json")
summaries = [json.loads(data) for data in fs.cat(paths).values()]
print(len(summaries))
"""
# What the server alone costs for the listing `incident-lab list` makes: the markers by prefix.
MARKERS_ONLY = """
import sys
import fsspec
fs, root = fsspec.core.url_to_fs(sys.argv[1])
print(len(fs.find(f"{root}/.complete")))
"""

MARKERS_ARM = "bare s3fs: list the markers only, read nothing"
# Tiny sizes for --quick and the test suite: every step runs; the figures mean nothing.
QUICK: dict[str, Any] = {"incidents": 5, "runs_per_incident": 2, "repeats": 1}


def fill_bucket(url: str, incidents: int, runs_per_incident: int) -> int:
    """Write the runs' objects, many at once; return the number of runs."""
    fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    objects: dict[str, bytes] = {}
    for number in range(incidents):
        when = start + dt.timedelta(hours=3 * number)
        folder = f"{when:%Y-%m-%d}-checkout-failing-{number:05d}"
        for run_number in range(1, runs_per_incident + 1):
            run = f"run-{run_number:03d}"
            summary = run_summary(number, run_number, when)
            data = (json.dumps(summary, indent=1) + "\n").encode()
            objects[f"{root}/{folder}/{run}/summary.json"] = data
            objects[f"{root}/{folder}/{run}/results.json"] = json.dumps({"incident": summary}).encode()
            objects[f"{root}/{JOURNAL}/{journal_hour(when)}/{folder}/{run}"] = b""
            objects[f"{root}/{COMPLETE}/{folder}/{run}.json"] = data
    fs.pipe(objects, batch_size=64)
    return incidents * runs_per_incident


def timed(command: Sequence[str], env: Mapping[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    completed = subprocess.run(command, check=True, capture_output=True, text=True, env=dict(env))
    return time.perf_counter() - started, completed.stdout


def listed_runs(output: str) -> dict[str, list[str]]:
    listed: dict[str, list[str]] = {}
    incident = ""
    for line in output.splitlines():
        if line.startswith("  "):
            listed[incident].append(line.split()[0])
        else:
            incident = line.split()[0]
            listed[incident] = []
    return listed


def run(incidents: int = 2500, runs_per_incident: int = 4, repeats: int = 5) -> dict[str, Any]:
    outer_environment = dict(os.environ)
    with S3Server() as s3:
        env = {**os.environ, **s3.env}
        os.environ.update(s3.env)  # this process fills the bucket and adds a run the same way
        try:
            return measure(s3, env, incidents, runs_per_incident, repeats)
        finally:
            # The caller (the test suite runs this in-process) must not go on aiming at a stopped server.
            os.environ.clear()
            os.environ.update(outer_environment)


def measure(
    s3: S3Server, env: dict[str, str], incidents: int, runs_per_incident: int, repeats: int
) -> dict[str, Any]:
    """Fill the bucket, time each listing side by side, print the table."""
    url = f"s3://{s3.bucket}/{PREFIX}"
    started = time.perf_counter()
    runs = fill_bucket(url, incidents, runs_per_incident)
    made = time.perf_counter() - started
    ours = [str(BIN / "incident-lab"), "list", "--archive", url]
    first, _ = timed(ours, env)
    # Each arm run `repeats` times, in turn; the bare glob once (minutes at 10,000 runs).
    arms: dict[str, tuple[list[str], Callable[[], None]]] = {
        "incident-lab list (the index, then the journal's latest hours)": (ours, lambda: None),
        "incident-lab list, the index listed whole over an hour ago (all of .complete/)": (
            ours,
            lambda: age_index(url, FULL_LISTING_EVERY),
        ),
        MARKERS_ARM: (
            [sys.executable, "-c", MARKERS_ONLY, url],
            lambda: None,
        ),
        "python -c pass": ([sys.executable, "-c", "pass"], lambda: None),
    }
    times: dict[str, list[float]] = {name: [] for name in arms}
    listed = ""
    for _ in range(repeats):
        for name, (command, prepare) in arms.items():
            prepare()
            taken, output = timed(command, env)
            times[name].append(taken)
            listed = output if command is ours else listed
    bare_name = "bare s3fs: glob + read every summary.json (once)"
    times[bare_name] = [timed([sys.executable, "-c", BARE, url], env)[0]]
    kept_up = run_added_shows(url, ours, env)
    listed_count = sum(len(names) for names in listed_runs(listed).values())
    facts = machine()
    print_machine(facts)
    # Against the least any listing by prefix costs on this server (the bare markers listing):
    # the glob that reads every summary is hundreds of times slower, which a ÷ column hides.
    steady, floor = median(times[next(iter(arms))]), median(times[MARKERS_ARM])
    print_table(
        ["command", "median", "÷ bare s3fs markers listing", "÷ python -c pass"],
        [
            [
                name,
                ms(median(values)),
                ratio(median(values), floor),
                ratio(median(values), median(times["python -c pass"])),
            ]
            for name, values in times.items()
        ]
        + [["incident-lab list, the first time (no index yet)", ms(first), ratio(first, floor), ""]],
        f"Listing {runs:,} runs of {incidents:,} incidents on moto's S3 server "
        f"({repeats} times each; written in {made:.0f} s)",
    )
    print(
        f"incident-lab list printed {listed_count:,} runs; aim under 2 s: {'met' if steady < 2 else 'missed'}"
    )
    print(f"A run added shows in the next listing: {'yes' if kept_up else 'NO'}")
    print()
    return {
        "machine": facts,
        "runs": runs,
        "listed_runs": listed_count,
        "times": times,
        "first_seconds": first,
        "kept_up": kept_up,
    }


def age_index(url: str, by: dt.timedelta) -> None:
    """Make the archive's index look written `by` earlier, as an hour later it would be."""
    fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True)
    index = json.loads(fs.cat_file(f"{root}/{INDEX}"))
    for key in ("listed_at", "full_at"):
        index[key] = (dt.datetime.fromisoformat(index[key]) - by).isoformat()
    fs.pipe_file(f"{root}/{INDEX}", json.dumps(index).encode())


def run_added_shows(url: str, listing: Sequence[str], env: Mapping[str, str]) -> bool:
    """Add a run the way `incident-lab run` does; list again."""
    archive = open_archive(url)
    incident_dir = archive.incident_folders()[0]
    staged = archive.staging_dir()
    summary = {"incident": "added", "outcome": "failed", "finished_at": "2027-01-01T00:00:00.000Z"}
    (staged / "summary.json").write_text(json.dumps(summary))
    added = archive.commit(staged, incident_dir, archive.claim_run(incident_dir))
    return added.name in listed_runs(timed(listing, env)[1]).get(incident_dir.name, [])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--incidents", type=int, default=2500, help="incidents of 4 runs each")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.quick:
        run(**QUICK)
    else:
        run(incidents=args.incidents, repeats=args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
