"""The metrics-over-time figure: one shared UTC axis, labelled on every chart, no blank band."""

import datetime as dt

from matplotlib.dates import num2date

from incident_lab.render.figures import metrics_figure

START = dt.datetime(2026, 11, 28, 20, 0, tzinfo=dt.UTC)


def point(probe: str, metric: str, value: float, minutes: float, unit: str = "sessions") -> dict:
    at = (START + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    return {"probe": probe, "metric": metric, "value": value, "unit": unit, "at": at}


def test_every_chart_shares_one_labelled_time_axis_spanning_only_the_observations():
    points = [
        point("postgres.lock_contention", "waiting_sessions", 3, 0),
        point("postgres.lock_contention", "waiting_sessions", 5, 2),
        point("postgres.lock_contention", "waiting_sessions", 0, 6),
        # Observed later only: must line up on the same axis, not start its own.
        point("postgres.long_transactions", "oldest_transaction_seconds", 120, 4, "s"),
        point("postgres.long_transactions", "oldest_transaction_seconds", 5, 6, "s"),
        point("postgres.deadlocks", "deadlocks", 1, 3, "deadlocks"),  # once: no chart of its own
    ]
    figure = metrics_figure(points)
    assert figure is not None
    axes = figure.axes
    assert [a.get_title() for a in axes] == [
        "postgres.lock_contention · waiting_sessions",
        "postgres.long_transactions · oldest_transaction_seconds",
    ]
    first, second = axes
    assert first.get_shared_x_axes().joined(first, second)
    assert first.get_xlim() == second.get_xlim()
    figure.canvas.draw()
    for chart in axes:  # each chart labels its own time ticks, not only the bottom one
        assert any(label.get_text() for label in chart.get_xticklabels())
    low, high = (num2date(limit) for limit in first.get_xlim())
    span = dt.timedelta(minutes=6)
    # The axis covers the observations with matplotlib's margin, and no blank band beyond it.
    assert START - span * 0.1 <= low <= START and START + span <= high <= START + span * 1.1
    assert axes[-1].get_xlabel() == "time (UTC)"


def test_no_figure_when_no_metric_was_seen_twice():
    assert metrics_figure([]) is None
    assert metrics_figure([point("postgres.deadlocks", "deadlocks", 1, 0)]) is None
