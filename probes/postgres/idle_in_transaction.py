"""Hypothesis: sessions sit idle inside open transactions, holding locks others need."""

from typing import Annotated

from incident_lab import Bounds, Finding, PostgresSession, Table, confirmed, probe
from incident_lab.kinds.postgres.blocking import build_forest
from incident_lab.wording import plural, seconds, truncate

COLUMNS = [
    "pid",
    "state",
    "idle_seconds",
    "transaction_age_seconds",
    "blocks_sessions",
    "usename",
    "application_name",
    "query",
]


@probe(
    "postgres.idle_in_transaction",
    hypothesis="Sessions are idle in transaction, holding locks and snapshots open",
    test="Check pg_stat_activity for idle-in-transaction sessions and the lock waiters they hold up",
    target="postgres",
)
def idle_in_transaction(
    db: PostgresSession,
    *,
    min_idle_seconds: Annotated[
        float, "how long a session must have been idle to count", Bounds(min=0)
    ] = 60.0,
    all_databases: Annotated[bool, "look at every database, not only the target's"] = False,
) -> Finding:
    rows = db.query("idle_in_transaction", {"all_databases": all_databases})
    # The blocking tree costs lock-manager time: build it only when there is an idle session to explain.
    forest = build_forest(db.query("lock_tree", {"all_databases": all_databases}) if rows else [])
    for row in rows:
        row["blocks_sessions"] = forest.blocked_in_total(row["pid"]) if row["pid"] in forest.sessions else 0
    idle = [row for row in rows if row["idle_seconds"] >= min_idle_seconds]
    blocking = [row for row in idle if row["blocks_sessions"] > 0]
    for row in rows:
        row["query"] = truncate(row["query"], 200)
    evidence = [Table.from_records("idle_in_transaction", rows, COLUMNS)]
    metrics = {
        "idle_in_transaction_sessions": (len(idle), "sessions"),
        "blocking_idle_sessions": (len(blocking), "sessions"),
        "max_idle_seconds": (round(max((r["idle_seconds"] for r in rows), default=0.0), 3), "s"),
    }
    if not idle:
        return db.refuted(
            f"No session has been idle in transaction for {seconds(min_idle_seconds)} or more "
            f"({plural(len(rows), 'session')} idle in transaction for less).",
            evidence=evidence,
            metrics=metrics,
        )
    worst = idle[0]
    return confirmed(
        f"{plural(len(idle), 'session')} idle in transaction for {seconds(min_idle_seconds)} or more "
        f"(longest pid {worst['pid']}, {seconds(worst['idle_seconds'])}); "
        f"{holding_words(len(blocking), sum(r['blocks_sessions'] for r in blocking))}.",
        evidence=evidence,
        metrics=metrics,
        hints=[
            f"Idle transaction pid {r['pid']} blocks {plural(r['blocks_sessions'], 'session')}: "
            f"SELECT pg_terminate_backend({r['pid']}); and set idle_in_transaction_session_timeout."
            for r in blocking
        ],
    )


def holding_words(holders: int, waiting: int) -> str:
    """'1 of them holds locks that 3 waiting sessions need', verbs agreeing with their counts."""
    holds = "holds" if holders == 1 else "hold"
    need = "needs" if waiting == 1 else "need"
    return f"{holders} of them {holds} locks that {plural(waiting, 'waiting session')} {need}"
