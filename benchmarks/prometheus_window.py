"""A Prometheus window at incident scale: one `query_range` of 1,000 series x 720 points
turned into a verdict, its evidence and its chart by `prometheus.threshold`, against a
bare script doing what a user would do instead: fetch the same range with urllib,
parse it, and draw every series with matplotlib.

A real Prometheus (Debian's package) holds twelve hours of one gauge per series at
one-minute steps, loaded by promtool; ten series spike above the threshold in the
last half hour. Each side runs in a fresh process of its own, alternating, and
reports the time from the request to the PNG and its peak resident memory (imports
included: both load matplotlib).

    .venv/bin/python benchmarks/prometheus_window.py            # 1,000 x 720, 5 of each
    .venv/bin/python benchmarks/prometheus_window.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine, median, ms, print_machine, print_table, ratio

from incident_lab.testing.prometheus import PrometheusServer, openmetrics

SCRIPT = Path(__file__).resolve()
STEP = 60
SPIKING = 10
THRESHOLD = 0.5
QUICK: dict[str, Any] = {"series": 50, "points": 60, "repeats": 1}
FULL: dict[str, Any] = {"series": 1000, "points": 720, "repeats": 5}


def history(series: int, points: int, now: float) -> str:
    end = now // STEP * STEP
    rng = random.Random(12)
    data = {}
    for index in range(series):
        values = []
        for k in range(points):
            at = end - (points - 1 - k) * STEP
            base = 0.12 + 0.05 * math.sin(k / 40 + index) + rng.random() * 0.02
            spike = index < SPIKING and end - at < 1800
            values.append((at, round(base + (0.6 if spike else 0.0), 4)))
        data[f'request_duration_seconds{{instance="host-{index:04d}",service="svc-{index % 20}"}}'] = values
    return openmetrics(data, now=now)


def ours(url: str, start: float, end: float) -> dict[str, Any]:
    """prometheus.threshold over the window, then its evidence as JSON and its chart as PNG."""
    from incident_lab import run
    from incident_lab.kinds.prometheus.window import iso
    from incident_lab.registry import load_registry
    from incident_lab.render import figures

    registry = load_registry()
    half = (end - start) / 2
    started = time.perf_counter()
    result = run(
        "prometheus.threshold",
        url,
        {
            "query": "request_duration_seconds",
            "above": THRESHOLD,
            "started_at": iso(start + half),
            "lookback_seconds": half,
            "step_seconds": STEP,
            "staleness_seconds": 3600,
        },
        registry=registry,
    )
    evidence = result.to_json()
    picture = figures.result_picture(result, registry, "chart")
    taken = time.perf_counter() - started
    assert picture is not None, result.summary
    return {
        "seconds": taken,
        "verdict": result.label,
        "series": result.metric("series"),
        "json": len(evidence),
    }


def bare(url: str, start: float, end: float) -> dict[str, Any]:
    """What a user writes: urllib, json, a datetime axis and one matplotlib line per series."""
    import datetime as dt
    import io
    import urllib.parse
    import urllib.request

    from matplotlib.figure import Figure

    started = time.perf_counter()
    query = urllib.parse.urlencode(
        {"query": "request_duration_seconds", "start": start, "end": end, "step": STEP}
    )
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{query}", timeout=60) as answer:
        result = json.load(answer)["data"]["result"]
    figure = Figure(figsize=(9, 3.8))
    axes = figure.subplots()
    breached = 0
    for series in result:
        times = [dt.datetime.fromtimestamp(point[0], dt.UTC) for point in series["values"]]
        values = [float(point[1]) for point in series["values"]]
        breached += any(value > THRESHOLD for value in values)
        axes.plot(times, values, linewidth=0.6)
    axes.axhline(THRESHOLD, color="black", linestyle="--")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    taken = time.perf_counter() - started
    return {"seconds": taken, "verdict": "True" if breached else "False", "series": len(result), "json": 0}


def fetch(url: str, start: float, end: float, encoding: str) -> float:
    """Seconds to fetch the range alone, plain or gzipped: what the server's compression costs."""
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode(
        {"query": "request_duration_seconds", "start": start, "end": end, "step": STEP}
    )
    request = urllib.request.Request(
        f"{url}/api/v1/query_range?{query}", headers={"Accept-Encoding": encoding}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()
    return time.perf_counter() - started


def child(side: str, url: str, start: float, end: float) -> None:
    figures = (ours if side == "ours" else bare)(url, start, end)
    figures["peak_mb"] = peak_memory_mb()
    print(json.dumps(figures))


def peak_memory_mb() -> float:
    """This process's peak resident memory. Not `ru_maxrss`: Linux carries the parent's peak
    over into a child across exec, and the parent here holds the whole history."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(side: str, url: str, start: float, end: float) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--child", side, url, str(start), str(end)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def run(series: int, points: int, repeats: int) -> dict[str, Any]:
    now = time.time()
    print(f"Loading {series:,} series x {points} points into Prometheus …", file=sys.stderr)
    with PrometheusServer(history=history(series, points, now)) as prometheus:
        end = time.time()
        start = (now // STEP * STEP) - (points - 1) * STEP
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": []}
        fetches: dict[str, list[float]] = {"identity": [], "gzip": []}
        for round_number in range(repeats):
            print(f"  round {round_number + 1} of {repeats} …", file=sys.stderr)
            for side in runs:
                runs[side].append(measure(side, prometheus.url, start, end))
            for encoding, taken in fetches.items():
                taken.append(fetch(prometheus.url, start, end, encoding))
    figures = {
        "machine": machine(),
        "size": {"series": series, "points": points},
        "runs": runs,
        "seconds": {side: median([r["seconds"] for r in taken]) for side, taken in runs.items()},
        "peak_mb": {side: median([r["peak_mb"] for r in taken]) for side, taken in runs.items()},
        "fetch_seconds": {encoding: median(taken) for encoding, taken in fetches.items()},
    }
    report(figures)
    return figures


def report(figures: dict[str, Any]) -> None:
    print_machine(figures["machine"])
    size = figures["size"]
    seconds, peak = figures["seconds"], figures["peak_mb"]
    rows = [
        ["prometheus.threshold: verdict, evidence, chart", ms(seconds["ours"]), f"{peak['ours']:.0f} MB"],
        ["bare: urllib + json + matplotlib, every series", ms(seconds["bare"]), f"{peak['bare']:.0f} MB"],
    ]
    for row, side in zip(rows, ("ours", "bare"), strict=True):
        row += [figures["runs"][side][0]["verdict"], figures["runs"][side][0]["series"]]
    rows.append(
        ["ours ÷ bare", ratio(seconds["ours"], seconds["bare"]), ratio(peak["ours"], peak["bare"]), "", ""]
    )
    print_table(
        ["", "request to PNG (median)", "peak memory (median)", "verdict", "series"],
        rows,
        title=f"One query_range of {size['series']:,} series x {size['points']} points",
    )
    fetched = figures["fetch_seconds"]
    print(
        f"The fetch alone (median): {ms(fetched['identity'])} plain, {ms(fetched['gzip'])} gzipped "
        "(the probe's client asks for gzip on the wire, as httpx does)."
    )
    print(f"The result's JSON (evidence and chart data): {figures['runs']['ours'][0]['json'] / 1024:.0f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny size, for the test suite")
    parser.add_argument("--child", nargs=4, metavar=("SIDE", "URL", "START", "END"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, url, start, end = args.child
        child(side, url, float(start), float(end))
        return
    run(**(QUICK if args.quick else FULL))


if __name__ == "__main__":
    main()
