"""Hypothesis: long-running transactions hold back the xmin horizon (bloat, blocked VACUUM)."""

from typing import Annotated

from incident_lab import Bounds, Finding, PostgresSession, Table, confirmed, probe
from incident_lab.wording import plural, seconds, truncate

COLUMNS = [
    "holder",
    "name",
    "backend_type",
    "state",
    "owner",
    "application_name",
    "age_seconds",
    "xmin_age",
    "query",
]


@probe(
    "postgres.long_transactions",
    hypothesis="Long-running transactions are open and hold back the xmin horizon",
    test="Check transaction ages in pg_stat_activity and pg_prepared_xacts, and the xmin horizon "
    "held by sessions, prepared transactions and replication slots",
    target="postgres",
)
def long_transactions(
    db: PostgresSession,
    *,
    max_transaction_seconds: Annotated[
        float, "a transaction older than this counts as long", Bounds(min=0)
    ] = 300.0,
    all_databases: Annotated[bool, "look at every database's sessions, not only the target's"] = False,
) -> Finding:
    rows = db.query("long_transactions", {"all_databases": all_databases})
    for row in rows:
        row["query"] = truncate(row["query"], 200)
    # Autovacuum and other background workers run long by design and do not hold the horizon back.
    long = [
        r
        for r in rows
        if r["holder"] != "replication slot"
        and r["backend_type"] in ("client backend", None)
        and r["age_seconds"] is not None
        and r["age_seconds"] >= max_transaction_seconds
    ]
    horizon = max(rows, key=lambda r: r["xmin_age"] or 0, default=None)
    xmin_age = horizon["xmin_age"] if horizon and horizon["xmin_age"] else 0
    oldest = max((r["age_seconds"] or 0.0 for r in rows), default=0.0)
    held_by = f"{horizon['holder']} {horizon['name']}" if xmin_age else "nothing"
    evidence = [Table.from_records("transactions_and_xmin_holders", rows, COLUMNS)]
    metrics = {
        "long_transactions": (len(long), "transactions"),
        "oldest_transaction_seconds": (round(oldest, 3), "s"),
        "oldest_xmin_age": (xmin_age, "transactions"),
    }
    horizon_note = f"the oldest xmin horizon is {plural(xmin_age, 'transaction')} old, held by {held_by}"
    if not long:
        return db.refuted(
            f"No transaction is older than {seconds(max_transaction_seconds)} (oldest "
            f"{seconds(oldest)}); {horizon_note}.",
            evidence=evidence,
            metrics=metrics,
        )
    return confirmed(
        f"{plural(len(long), 'transaction')} older than {seconds(max_transaction_seconds)}, the oldest "
        f"{long[0]['holder']} {long[0]['name']} at {seconds(long[0]['age_seconds'])}; {horizon_note}.",
        evidence=evidence,
        metrics=metrics,
    )
