"""The metrics-over-time chart: drawn from two observations of a metric on, without pandas."""

import subprocess
import sys

from incident_lab.render.figures import metrics_over_time


def point(metric, value, at, probe="postgres.lock_contention", unit="sessions"):
    return {"probe": probe, "metric": metric, "value": value, "unit": unit, "at": at}


def test_a_metric_seen_once_draws_nothing_and_twice_draws_a_chart():
    once = [point("waiting_sessions", 3, "2026-12-02T01:00:00.000Z")]
    assert metrics_over_time(once) is None
    assert metrics_over_time([]) is None
    twice = [*once, point("waiting_sessions", None, "2026-12-02T01:00:05.000Z")]
    stem, png = metrics_over_time(twice)
    assert stem == "metrics-over-time" and png.startswith(b"\x89PNG")


def test_the_chart_does_not_import_pandas():
    # In a fresh interpreter: elsewhere in the suite pandas may already be loaded.
    script = (
        "import sys\n"
        "from incident_lab.render.figures import metrics_over_time\n"
        "points = [{'probe': 'p', 'metric': 'm', 'value': v, 'unit': 'u', 'at': at}\n"
        "          for v, at in ((1, '2026-12-02T01:00:00.000Z'), (2, '2026-12-02T01:00:05.000Z'))]\n"
        "assert metrics_over_time(points) is not None\n"
        "print('pandas' in sys.modules)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"
