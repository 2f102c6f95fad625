"""Hypothesis: the server is running out of connection slots."""

from typing import Annotated

from incident_lab import Bounds, Finding, PostgresSession, Table, confirmed, probe
from incident_lab.kinds.postgres import charts
from incident_lab.kinds.postgres.session import is_too_many_clients

BREAKDOWN = ["datname", "usename", "application_name", "state", "connections"]


@probe(
    "postgres.connection_saturation",
    hypothesis="Connection saturation: client connections use up max_connections",
    test="Count client backends in pg_stat_activity against max_connections less the reserved slots",
    target="postgres",
    chart=charts.connection_saturation,
)
def connection_saturation(
    db: PostgresSession,
    *,
    threshold_ratio: Annotated[
        float, "share of usable slots in use that counts as saturated", Bounds(min=0.01, max=1)
    ] = 0.9,
) -> Finding:
    try:
        db.connect()
    except Exception as error:
        if not is_too_many_clients(error):
            raise
        refusal = Table("connect_refused", ("sqlstate", "message"), (("53300", str(error).splitlines()[0]),))
        return confirmed(
            "The server refused this probe's connection: too many clients already "
            "(SQLSTATE 53300); every usable slot is taken.",
            evidence=[refusal],
            metrics={"connection_usage": (1.0, "ratio")},
        )
    limits = db.query("connection_limits")[0]
    usable = limits["max_connections"] - limits["superuser_reserved"] - limits["reserved"]
    used = limits["client_backends"]
    ratio = used / usable if usable > 0 else 1.0
    evidence = [
        Table.from_records(
            "limits",
            [{**limits, "usable": usable}],
            ["client_backends", "max_connections", "superuser_reserved", "reserved", "usable"],
        ),
        Table.from_records("connections_by_state", db.query("connections_by_state"), BREAKDOWN),
    ]
    metrics = {
        "client_connections": (used, "connections"),
        "usable_connections": (usable, "connections"),
        "connection_usage": (round(ratio, 4), "ratio"),
    }
    verdict = confirmed if ratio >= threshold_ratio else db.refuted
    return verdict(
        f"{used} of {usable} usable connection slots in use ({ratio:.0%}, threshold "
        f"{threshold_ratio:.0%}; max_connections {limits['max_connections']}, this probe included).",
        evidence=evidence,
        metrics=metrics,
    )
