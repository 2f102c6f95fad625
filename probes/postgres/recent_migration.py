"""Hypothesis: a schema migration was applied shortly before the incident."""

from typing import Annotated

from incident_lab import Bounds, Finding, PostgresSession, Table, confirmed, inconclusive, probe, refuted
from incident_lab.wording import plural, seconds

# Which history table a tool writes, told apart by its columns where names collide.
TOOLS = {
    "django_migrations": ("django", {"applied"}),
    "flyway_schema_history": ("flyway", {"installed_on"}),
    "databasechangelog": ("liquibase", {"dateexecuted"}),
    "knex_migrations": ("knex", {"migration_time"}),
    "schema_migrations": ("golang_migrate", {"dirty"}),
}
COLUMNS = ["tool", "table", "migration", "applied_at", "age_seconds", "succeeded", "note"]


@probe(
    "postgres.recent_migration",
    hypothesis="A schema migration was applied shortly before the incident",
    test="Read the newest rows of the migration history tables of Django, Flyway, Liquibase, "
    "Knex and golang-migrate",
    target="postgres",
)
def recent_migration(
    db: PostgresSession,
    *,
    window_minutes: Annotated[float, "how recent a migration must be to count", Bounds(min=0.1)] = 60.0,
) -> Finding:
    rows, recent, dirty = [], [], []
    for found in db.query("migration_tables"):
        tool, needed = TOOLS[found["table_name"]]
        where = f"{found['schema_name']}.{found['table_name']}"
        if not needed <= set(found["columns"]):
            rows.append({"tool": None, "table": where, "note": "records no time; not read"})
            continue
        try:
            history = db.query(f"migrations_{tool}", table=(found["schema_name"], found["table_name"]))
        except Exception as error:  # a locked or unreadable table is reported, not fatal
            rows.append({"tool": tool, "table": where, "note": f"could not read: {error}"})
            continue
        for entry in history:
            # Flyway and Liquibase write local time without a zone: a time "in the future" is
            # a clock or zone mismatch, and could hide a recent migration, so it counts as recent.
            skewed = entry["age_seconds"] is not None and entry["age_seconds"] < 0
            rows.append(
                {
                    "tool": tool,
                    "table": where,
                    **entry,
                    "note": "time ahead of the server's" if skewed else None,
                }
            )
            if entry["age_seconds"] is not None and entry["age_seconds"] <= window_minutes * 60:
                recent.append(rows[-1])
            if tool == "golang_migrate" and not entry["succeeded"]:
                dirty.append(rows[-1])
    recent.sort(key=lambda entry: entry["age_seconds"])
    looked_for = ", ".join(TOOLS)
    evidence = [Table.from_records("migration_history", rows, COLUMNS)]
    metrics = {"recent_migrations": (len(recent), "migrations")}
    hints = [
        f"Migration {m['migration']} ({m['tool']}) was applied {seconds(m['age_seconds'])} ago: "
        "consider rolling it back."
        for m in recent[:3]
    ]
    if recent or dirty:
        latest = recent[0] if recent else dirty[0]
        when = f"{seconds(latest['age_seconds'])} ago" if latest["age_seconds"] is not None else "dirty"
        return confirmed(
            f"{plural(len(recent), 'migration')} in the last {window_minutes:g} min; latest "
            f"{latest['migration']} ({latest['tool']}, {latest['table']}) {when}"
            + ("; golang-migrate schema is dirty (a migration failed midway)" if dirty else "")
            + ".",
            evidence=evidence,
            metrics=metrics,
            hints=hints,
        )
    if not any(row.get("migration") for row in rows):
        return inconclusive(
            f"No readable migration history found (looked for {looked_for}).",
            evidence=evidence,
            metrics=metrics,
        )
    unread = [r["table"] for r in rows if (r.get("note") or "").startswith("could not read")]
    if unread:
        return inconclusive(
            f"No recent migration in what could be read, but {', '.join(unread)} could not be read.",
            evidence=evidence,
            metrics=metrics,
        )
    newest = min(
        (r for r in rows if r.get("age_seconds") is not None), key=lambda r: r["age_seconds"], default=None
    )
    last = f"; the newest, {newest['migration']}, is {seconds(newest['age_seconds'])} old" if newest else ""
    return refuted(
        f"No migration in the last {window_minutes:g} min{last} (read: "
        f"{', '.join(sorted({r['table'] for r in rows}))}).",
        evidence=evidence,
        metrics=metrics,
    )
