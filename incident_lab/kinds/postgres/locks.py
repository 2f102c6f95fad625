"""PostgreSQL's heavyweight locks as people talk about them: lock modes and what they
conflict with, the object a lock is on, and the operations that take the locks which
stop everything else (migrations, VACUUM FULL, anti-wraparound autovacuum…).

The conflict table is LockConflicts in PostgreSQL's lock.c; the modes each command
takes are those of the "Explicit Locking" chapter of the documentation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ACCESS_EXCLUSIVE = "AccessExclusiveLock"

# Each lock mode as a bit, and the modes it conflicts with.
MODE_BITS = {
    "AccessShareLock": 1,
    "RowShareLock": 2,
    "RowExclusiveLock": 4,
    "ShareUpdateExclusiveLock": 8,
    "ShareLock": 16,
    "ShareRowExclusiveLock": 32,
    "ExclusiveLock": 64,
    ACCESS_EXCLUSIVE: 128,
}
CONFLICTS = {1: 128, 2: 192, 4: 240, 8: 248, 16: 236, 32: 252, 64: 254, 128: 255, 255: 255}

# What holding each mode on a table stops, as an on-call engineer needs to hear it.
BLOCKS = {
    "AccessShareLock": "blocking schema changes",
    "RowShareLock": "blocking schema changes and explicit EXCLUSIVE locks",
    "RowExclusiveLock": "blocking CREATE INDEX and explicit table locks",
    "ShareUpdateExclusiveLock": "blocking schema changes, VACUUM and CREATE INDEX",
    "ShareLock": "blocking writes",
    "ShareRowExclusiveLock": "blocking writes",
    "ExclusiveLock": "blocking writes and row locks (plain reads pass)",
    ACCESS_EXCLUSIVE: "blocking reads and writes",
}


def mode_name(mode: str) -> str:
    """`ShareRowExclusiveLock` as the documentation writes it: `SHARE ROW EXCLUSIVE`."""
    return " ".join(re.findall(r"[A-Z][a-z]*", mode.removesuffix("Lock"))).upper()


def blocks_what(mode: str, target: LockTarget) -> str:
    """ ", blocking writes" and the like, for a table lock; nothing for other locks."""
    if target.locktype != "relation" or mode not in BLOCKS:
        return ""
    return f", {BLOCKS[mode]}"


def _signed(value: int | None) -> int | None:
    """An advisory lock's int4 key, stored in pg_locks as an unsigned oid."""
    return None if value is None else value - (1 << 32) if value >= 1 << 31 else value


@dataclass(frozen=True)
class LockTarget:
    """What one lock is on: a table, a row, a transaction, an advisory key…"""

    locktype: str
    relation: str | None = None  # the name, where this database can see it
    relation_oid: int | None = None
    datname: str | None = None  # only for a lock in another database
    page: int | None = None
    tuple: int | None = None
    xid: str | None = None
    virtualxid: str | None = None
    classid: int | None = None
    objid: int | None = None
    objsubid: int | None = None
    object: str | None = None

    @property
    def advisory_key(self) -> str:
        """`pg_advisory_lock(bigint)` keeps its key's high half in classid and low half in
        objid (objsubid 1); `pg_advisory_lock(int, int)` keeps the two keys (objsubid 2)."""
        if self.objsubid == 2:
            return f"({_signed(self.classid)}, {_signed(self.objid)})"
        key = ((self.classid or 0) << 32) | (self.objid or 0)
        return str(key - (1 << 64) if key >= 1 << 63 else key)

    @property
    def table(self) -> str:
        if self.relation:
            return self.relation
        if not self.datname:  # in this database, yet without a name: not committed yet
            return "a relation not yet committed (a new table or index)"
        return f"relation {self.relation_oid} in database {self.datname} (connect there to name it)"

    @property
    def name(self) -> str:
        kind = self.locktype
        if kind == "relation":
            return self.table
        if kind == "tuple":
            return f"row ({self.page},{self.tuple}) of {self.table}"
        if kind == "page":
            return f"page {self.page} of {self.table}"
        if kind == "extend":
            return f"the extension of {self.table}"
        if kind == "transactionid":
            return f"transaction {self.xid}"
        if kind == "virtualxid":
            return f"the end of transaction {self.virtualxid}"
        if kind == "advisory":
            where = f" in database {self.datname}" if self.datname else ""
            return f"advisory lock {self.advisory_key}{where}"
        if kind == "object":
            return self.object or f"object {self.objid} of catalog {self.classid} in database {self.datname}"
        return f"a {kind} lock"


@dataclass(frozen=True)
class Operation:
    """A statement recognised by its text: what it is called, whether it changes the
    schema, and what to do about it when it blocks others."""

    name: str
    short: str  # the word put before its pid: "VACUUM FULL pid 42"
    pattern: re.Pattern[str]
    migration: bool = False
    remedy: str = ""
    note: str = ""  # what to know about it, said after what it holds

    @property
    def aside(self) -> str:
        """What the summary adds after the locks: the note, or the full name where the word
        before the pid ("migration") does not say it."""
        return self.note or (self.name if self.name != self.short else "")


def _op(
    name: str, pattern: str, short: str = "", migration: bool = False, remedy: str = "", note: str = ""
) -> Operation:
    compiled = re.compile(pattern, re.IGNORECASE | re.DOTALL)
    return Operation(name, short or name, compiled, migration, remedy, note)


REWRITE = (
    "it holds ACCESS EXCLUSIVE until it has rewritten the table; cancel it "
    "(SELECT pg_cancel_backend({pid});) if the outage costs more than the bloat, and run it off-peak"
)
# First match wins: the specific forms before the general ones.
OPERATIONS = (
    _op(
        "anti-wraparound autovacuum",
        r"^autovacuum: .*\(to prevent wraparound\)",
        note="unlike ordinary autovacuum, it does not give way to lock requests",
        remedy="it runs to prevent transaction ID wraparound and, unlike ordinary autovacuum, is "
        "not cancelled by conflicting lock requests; let it finish (cancelling it only makes it "
        "start again) and cancel what queues behind it instead",
    ),
    _op(
        "autovacuum",
        r"^autovacuum: ",
        remedy="it gives way to a conflicting lock request after deadlock_timeout; "
        "SELECT pg_cancel_backend({pid}); if it does not",
    ),
    _op("VACUUM FULL", r"^\s*VACUUM\s*(\([^)]*\bFULL\b[^)]*\)|\s+FULL\b)", remedy=REWRITE),
    _op("CLUSTER", r"^\s*CLUSTER\b", remedy=REWRITE),
    _op(
        "REINDEX without CONCURRENTLY",
        r"^\s*REINDEX\b(?!.*\bCONCURRENTLY\b)",
        "REINDEX",
        remedy="it blocks writes until the index is rebuilt; cancel it (SELECT pg_cancel_backend({pid});) "
        "and rebuild with REINDEX … CONCURRENTLY",
    ),
    _op("TRUNCATE", r"^\s*TRUNCATE\b"),
    _op(
        "foreign key validation (ADD FOREIGN KEY checks every row)",
        r"^\s*ALTER\s+TABLE\b.*\bFOREIGN\s+KEY\b",
        "migration",
        migration=True,
    ),
    _op(
        "constraint validation",
        r"^\s*ALTER\s+TABLE\b.*\bVALIDATE\s+CONSTRAINT\b",
        "migration",
        migration=True,
    ),
    _op(
        "CREATE INDEX without CONCURRENTLY",
        r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\b(?!\s+CONCURRENTLY)",
        "migration",
        migration=True,
    ),
    _op(
        "REFRESH MATERIALIZED VIEW without CONCURRENTLY",
        r"^\s*REFRESH\s+MATERIALIZED\s+VIEW\b(?!\s+CONCURRENTLY)",
        "REFRESH MATERIALIZED VIEW",
    ),
    _op("LOCK TABLE", r"^\s*LOCK\b"),
    _op(
        "migration",
        r"^\s*(ALTER\s+(TABLE|INDEX|SEQUENCE|VIEW|MATERIALIZED\s+VIEW|TYPE)|DROP)\s",
        migration=True,
    ),
)


def operation(query: str | None) -> Operation | None:
    """The operation a session's (last) statement is, if it is one that takes strong locks
    (autovacuum's workers show `autovacuum: VACUUM …`, which no client can send)."""
    return next((found for found in OPERATIONS if query and found.pattern.match(query)), None)
