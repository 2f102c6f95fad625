"""The blocking forest: who waits for whom, built in Python from one snapshot, and how it reads.

`lock_tree.sql` returns every lock someone waits for, with its holders and requests,
each such lock's object, and the sessions and prepared transactions involved. This
module works out each waiting session's blockers as `pg_blocking_pids` would, from
PostgreSQL's lock conflict table and the answers the server gave for the strong
requests; then it finds the roots (sessions that block others and wait on nobody), each
session's depth below its root, how many sessions each root holds up, the lock each
blocker holds that conflicts with its waiters' requests, and the two shapes a schema
migration takes in an outage. Cycles (a deadlock not yet detected) are handled: their
smallest pid stands in as the root. A prepared transaction, which has no backend, stands
in the forest as minus its transaction id.

`locks.py` names locks, modes and operations; the presentation (summary lines, hints,
evidence tables) is at the end of this module.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from incident_lab.kinds.postgres.locks import (
    ACCESS_EXCLUSIVE,
    CONFLICTS,
    MODE_BITS,
    LockTarget,
    Operation,
    blocks_what,
    mode_name,
    operation,
)
from incident_lab.result import Table, json_scalar
from incident_lab.wording import plural, seconds, truncate

UNIDENTIFIED_PREPARED = 0  # pg_blocking_pids' name for a prepared transaction we could not match
# The blocking tree keeps this many sessions, roots first, each followed by those it holds
# up, and counts the rest as left out: enough to read every root and the head of each
# queue, while the counts (metrics, root_blockers) stay exact for every session. A
# thousand identical readers cost a report's reader and the probe's own time, not insight.
TREE_ROWS = 200

TREE_COLUMNS = [
    "pid",
    "blocked_by",
    "depth",
    "role",
    "state",
    "transaction_age_s",
    "wait_age_s",
    "lock_mode",
    "lock_on",
    "application_name",
    "query",
]
ROOT_COLUMNS = [
    "root_pid",
    "blocks_directly",
    "blocks_in_total",
    "longest_wait_s",
    "state",
    "transaction_age_s",
    "holds",
    "operation",
    "migration",
    "query",
]


@dataclass
class Session:
    """One session (or prepared transaction) in the snapshot, waiting, blocking, or both."""

    pid: int
    blocked_by: tuple[int, ...]
    state: str | None = None
    application_name: str | None = None
    transaction_age_seconds: float | None = None
    wait_seconds: float | None = None
    waiting_for_mode: str | None = None
    waiting_for: LockTarget | None = None
    holds: dict[tuple[str, LockTarget], None] = field(default_factory=dict)  # ordered set
    query: str | None = None
    xid: str | None = None
    database: str | None = None
    owner: str | None = None
    gid: str | None = None
    depth: int = 0
    root: int | None = None
    in_cycle: bool = False

    @property
    def waiting(self) -> bool:
        return bool(self.blocked_by)

    @property
    def prepared(self) -> bool:
        return self.pid <= UNIDENTIFIED_PREPARED

    @property
    def operation(self) -> Operation | None:
        return operation(self.query)

    @property
    def migration(self) -> bool:
        found = self.operation
        return bool(found and found.migration)

    @property
    def description(self) -> str:
        if self.gid is not None:
            return (
                f"prepared transaction '{self.gid}' (owner {self.owner}, database {self.database}, "
                f"prepared {seconds(self.transaction_age_seconds)} ago)"
            )
        if self.prepared:
            return "a prepared transaction"
        xid = f", xid {self.xid}" if self.xid and self._holds_row_locks else ""
        return f"pid {self.pid} ({self.state or 'state unknown'}{xid})"

    @property
    def _holds_row_locks(self) -> bool:
        return any(target.locktype == "transactionid" for _, target in self.holds)

    def held(self) -> str:
        """The locks this session holds that its waiters wait for, as people say them."""
        parts = []
        for mode, target in self.holds:
            if target.locktype == "transactionid":
                parts.append(f"row locks as transaction {target.xid}")
            elif target.locktype == "virtualxid":  # waited on by CREATE INDEX CONCURRENTLY and the like
                parts.append(f"transaction {target.virtualxid} open")
            elif target.locktype == "advisory":
                parts.append(target.name)
            else:
                parts.append(f"{mode_name(mode)} on {target.name}" + blocks_what(mode, target))
        return "; ".join(dict.fromkeys(parts))


@dataclass
class BlockingForest:
    sessions: dict[int, Session]
    children: dict[int, list[int]] = field(default_factory=dict)
    roots: list[int] = field(default_factory=list)
    elsewhere: Counter[str] = field(default_factory=Counter)  # waiting sessions out of scope, per database
    _queued_migrations: list[Session] | None = field(default=None, repr=False)

    @property
    def waiters(self) -> list[Session]:
        return [session for session in self.sessions.values() if session.waiting]

    @property
    def max_depth(self) -> int:
        return max((session.depth for session in self.sessions.values()), default=0)

    def blocked_directly(self, pid: int) -> int:
        return len(self.children.get(pid, ()))

    def blocked_in_total(self, pid: int) -> int:
        return len(self._reachable(pid)) - 1

    def tree_order(self) -> list[Session]:
        """Every session once, each root followed by the sessions it holds up, depth first."""
        ordered: list[Session] = []
        seen: set[int] = set()
        for root in self.roots:
            stack = [root]
            while stack:
                pid = stack.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                ordered.append(self.sessions[pid])
                stack.extend(sorted(self.children.get(pid, ()), reverse=True))
        return ordered

    def queued_migrations(self) -> list[Session]:
        """DDL statements waiting for ACCESS EXCLUSIVE while others queue behind them."""
        # Asked once per session when the evidence is drawn up: worked out once.
        if self._queued_migrations is None:
            self._queued_migrations = [
                session
                for session in self.waiters
                if session.waiting_for_mode == ACCESS_EXCLUSIVE
                and self.blocked_directly(session.pid) > 0
                and session.operation is not None
            ]
        return self._queued_migrations

    def _reachable(self, pid: int) -> set[int]:
        seen = {pid}
        queue = deque([pid])
        while queue:
            for child in self.children.get(queue.popleft(), ()):
                if child not in seen:
                    seen.add(child)
                    queue.append(child)
        return seen


def build_forest(rows: Iterable[Mapping[str, Any]]) -> BlockingForest:
    """The forest from the rows of `lock_tree.sql`, each with a `kind`:

    - `lock`: one session's hold on (`granted`) or request for a lock, `lock_key` naming
      the lock, with `mode`, `wait_seconds`, and for a request the server answered,
      `blocked_by` (what `pg_blocking_pids` returned);
    - `target`: the object of the lock `lock_key`, its parts in `detail` (`locktype`,
      `relation`, `xid`, …: the fields of `LockTarget`);
    - `session`: a session's `state`, `query`, `transaction_age_seconds`,
      `application_name`, `xid`, `leader_pid` (for a parallel worker)
      and `in_scope` (whether its waits are reported);
    - `prepared`: a prepared transaction's `datname`, `xid` and age, `gid` and `owner`
      in `detail`.
    """
    elsewhere: Counter[str] = Counter()
    sessions = _sessions(rows, elsewhere)
    for session in list(sessions.values()):
        for blocker in session.blocked_by:
            sessions.setdefault(blocker, Session(pid=blocker, blocked_by=()))
    forest = BlockingForest(sessions, elsewhere=elsewhere)
    for session in sessions.values():
        for blocker in session.blocked_by:
            forest.children.setdefault(blocker, []).append(session.pid)
    forest.roots = sorted(pid for pid in forest.children if not sessions[pid].waiting)
    _assign_depths(forest, forest.roots)
    unplaced = sorted(pid for pid, s in sessions.items() if s.waiting and s.root is None)
    while unplaced:  # what no root reaches is a cycle: let its smallest pid stand as root
        cycle_root = unplaced[0]
        sessions[cycle_root].in_cycle = True
        forest.roots.append(cycle_root)
        _assign_depths(forest, [cycle_root])
        unplaced = [pid for pid in unplaced if sessions[pid].root is None]
    return forest


def _assign_depths(forest: BlockingForest, roots: list[int]) -> None:
    for root in roots:
        forest.sessions[root].root = root
        queue = deque([root])
        placed = {root}
        while queue:
            parent = queue.popleft()
            for child in forest.children.get(parent, ()):
                session = forest.sessions[child]
                if child in placed or session.root not in (None, root):
                    continue
                placed.add(child)
                session.depth = forest.sessions[parent].depth + 1
                session.root = root
                queue.append(child)


Locks = tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]  # holders, requests


def _sessions(rows: Iterable[Mapping[str, Any]], elsewhere: Counter[str]) -> dict[int, Session]:
    """The waiting sessions in scope and their blockers, each with its details; waiting
    sessions out of scope are counted per database in `elsewhere`."""
    details: dict[int, Mapping[str, Any]] = {}
    targets: dict[str, LockTarget] = {}
    locks: dict[str, Locks] = {}
    for row in rows:
        if row["kind"] == "session":
            details[row["pid"]] = row
        elif row["kind"] == "prepared":
            details[row["pid"]] = {**row, **row["detail"]}
        elif row["kind"] == "target":
            targets[row["lock_key"]] = LockTarget(**row["detail"])
        else:
            holders, requests = locks.setdefault(row["lock_key"], ([], []))
            (holders if row["granted"] else requests).append(row)

    def group(pid: int) -> int:
        """A parallel worker is named by its leader, as pg_blocking_pids names it."""
        about = details.get(pid)
        return (about and about["leader_pid"]) or pid

    blocked_by: dict[int, tuple[int, ...]] = {}
    wanted: dict[int, tuple[str, Mapping[str, Any]]] = {}
    held: dict[int, dict[tuple[str, LockTarget], None]] = {}
    for key, (holders, requests) in locks.items():
        blockers = _weak_request_blockers(holders, requests, group)
        modes_held: dict[int, list[str]] = {}
        for holder in holders:
            modes_held.setdefault(group(holder["pid"]), []).append(holder["mode"])
        credited: set[tuple[tuple[int, ...], int]] = set()  # (blockers, modes conflicting) done
        for request in requests:
            pid = request["pid"]
            wanted[pid] = (key, request)
            about = details.get(pid, {})
            if not about.get("in_scope"):
                if about.get("datname"):
                    elsewhere[about["datname"]] += 1
                continue
            answer = request["blocked_by"]
            found = blockers(request) if answer is None else _name_prepared(answer, holders)
            named = tuple(dict.fromkeys(found))
            blocked_by[pid] = named if pid not in named else tuple(b for b in named if b != pid)
            conflicts = CONFLICTS[MODE_BITS.get(request["mode"], 255)]
            if (named, conflicts) in credited or key not in targets:
                continue  # a thousand readers behind one lock credit its holders once
            credited.add((named, conflicts))
            for blocker in blocked_by[pid]:
                for mode in modes_held.get(blocker, ()):
                    if MODE_BITS.get(mode, 255) & conflicts:
                        held.setdefault(blocker, {})[(mode, targets[key])] = None

    sessions: dict[int, Session] = {}
    for pid in dict.fromkeys([*blocked_by, *(b for found in blocked_by.values() for b in found)]):
        about = details.get(pid, {})
        key, request = wanted.get(pid, ("", {}))
        sessions[pid] = Session(
            pid=pid,
            blocked_by=blocked_by.get(pid, ()),
            state=about.get("state"),
            application_name=about.get("application_name"),
            transaction_age_seconds=about.get("transaction_age_seconds"),
            wait_seconds=request.get("wait_seconds"),
            waiting_for_mode=request.get("mode"),
            waiting_for=targets.get(key),
            holds=held.get(pid, {}),
            query=about.get("query"),
            xid=about.get("xid"),
            database=about.get("datname"),
            owner=about.get("owner"),
            gid=about.get("gid"),
        )
    return sessions


def _name_prepared(answer: Sequence[int], holders: Sequence[Mapping[str, Any]]) -> list[int]:
    """The server's answer, with its 0 (some prepared transaction) replaced by the prepared
    transactions that hold this lock."""
    if UNIDENTIFIED_PREPARED not in answer:
        return list(answer)
    prepared = [h["pid"] for h in holders if h["pid"] < UNIDENTIFIED_PREPARED] or [UNIDENTIFIED_PREPARED]
    named = [prepared if blocker == UNIDENTIFIED_PREPARED else [blocker] for blocker in answer]
    return [pid for pids in named for pid in pids]


def _weak_request_blockers(
    holders: Sequence[Mapping[str, Any]],
    requests: Sequence[Mapping[str, Any]],
    group: Callable[[int], int],
) -> Callable[[Mapping[str, Any]], list[int]]:
    """Who blocks a weak request (ACCESS SHARE, ROW SHARE, ROW EXCLUSIVE) for this lock,
    as pg_blocking_pids would answer; lock_tree.sql asked the server about every other.

    Holders of a conflicting mode block it, and so do conflicting requests ahead of it
    in the queue. Weak requests never conflict with each other, and the server named
    each strong request's blockers: a weak request ahead of it is among them (so is one
    that already holds a conflicting mode, which PostgreSQL queues ahead of it), so a
    strong request is ahead exactly when the weak one is not among its blockers.
    """
    answered = {r["pid"]: set(r["blocked_by"]) for r in requests if r["blocked_by"] is not None}
    # A request that holds nothing here and that no answer names has the same blockers as
    # every other such request of its mode: worked out once per mode.
    singled_out = {h["pid"] for h in holders}.union(*answered.values())
    by_mode: dict[str, tuple[list[int], list[int]]] = {}
    common: dict[str, list[int]] = {}

    def in_the_way(mode: str) -> tuple[list[int], list[int]]:
        # Per mode, not per request: a thousand readers share one answer.
        if mode not in by_mode:
            conflicts = CONFLICTS[MODE_BITS[mode]]
            by_mode[mode] = (
                [h["pid"] for h in holders if MODE_BITS.get(h["mode"], 0) & conflicts],
                [r["pid"] for r in requests if MODE_BITS.get(r["mode"], 0) & conflicts],
            )
        return by_mode[mode]

    def blockers(request: Mapping[str, Any]) -> list[int]:
        pid, mode = request["pid"], request["mode"]
        if pid not in singled_out and mode in common:
            return common[mode]
        holding, strong = in_the_way(mode)
        ahead = [group(other) for other in strong if pid not in answered[other]]
        found = [group(holder) for holder in holding if holder != pid] + ahead
        if pid not in singled_out:
            common[mode] = found
        return found

    return blockers


# Presentation: how the forest reads in a summary, a hint and the evidence tables.


def what(session: Session) -> str:
    """What a session is doing, in a word or two ("migration", "VACUUM FULL"), if it is
    one of the operations that take strong locks."""
    found = session.operation
    return "" if found is None else "migration" if found.migration else found.short


def who(session: Session) -> str:
    """A session as the summary names it: what it is doing, then which it is."""
    doing = what(session)
    return f"{doing} {session.description}" if doing and not session.prepared else session.description


def describe_root(forest: BlockingForest, root: Session) -> str:
    held = f" holds {root.held()}" if root.holds else ""
    found = root.operation
    doing = f"; {found.aside}" if found and found.aside else ""
    query = f": {truncate(root.query, 80)}" if root.query else ""
    return f"{who(root)}{held}{doing} — blocks {plural(forest.blocked_in_total(root.pid), 'session')}{query}"


def describe_queued(forest: BlockingForest, queued: Session) -> str:
    on = queued.waiting_for.name if queued.waiting_for else "its table"
    blocker = forest.sessions[queued.root] if queued.root is not None else None
    return (
        f"{what(queued)} pid {queued.pid} waits for ACCESS EXCLUSIVE on {on} behind "
        f"{blocker.description if blocker else 'an unknown session'}, and "
        f"{plural(forest.blocked_in_total(queued.pid), 'session')} queue behind it (it amplifies the outage)"
    )


def describe_elsewhere(forest: BlockingForest) -> str:
    """The waits in other databases a probe limited to one database did not explain."""
    if not forest.elsewhere:
        return ""
    where = ", ".join(f"{plural(n, 'session')} wait in database {db}" for db, n in forest.elsewhere.items())
    return f" … and {where}: re-run with all_databases=true"


def remedies(forest: BlockingForest) -> list[str]:
    hints = [_remedy(forest, forest.sessions[pid]) for pid in forest.roots]
    hints += [
        f"Cancel the queued {what(m)} (SELECT pg_cancel_backend({m.pid});) to release the "
        "sessions behind it, then retry it with a short lock_timeout."
        for m in forest.queued_migrations()
    ]
    return hints


def _remedy(forest: BlockingForest, root: Session) -> str:
    total = plural(forest.blocked_in_total(root.pid), "session")
    found = root.operation
    if root.gid is not None:
        return (
            f"Prepared transaction '{root.gid}' holds up {total} and no session runs it, so "
            f"pg_terminate_backend cannot end it: in database {root.database}, run "
            f"ROLLBACK PREPARED '{root.gid}'; to undo it (or COMMIT PREPARED '{root.gid}'; to finish it)."
        )
    if root.prepared:
        return f"A prepared transaction holds up {total}: find it in pg_prepared_xacts, ROLLBACK PREPARED it."
    if found is not None and found.remedy:
        doing = found.short[0].upper() + found.short[1:]
        return f"{doing} pid {root.pid} holds up {total}: {found.remedy.format(pid=root.pid)}."
    if found is not None and found.migration:
        return (
            f"Migration pid {root.pid} holds {root.held() or 'its locks'} (transaction open "
            f"{seconds(root.transaction_age_seconds)}): roll it back or run "
            f"SELECT pg_terminate_backend({root.pid});"
        )
    advisory = [target for _, target in root.holds if target.locktype == "advisory"]
    if advisory:
        return (
            f"pid {root.pid} holds {advisory[0].name}, as migration tools and job runners take to run "
            f"one at a time (application {root.application_name or 'unknown'}): it is released by "
            "pg_advisory_unlock in that session or when the session ends: "
            f"SELECT pg_terminate_backend({root.pid});"
        )
    return (
        f"Root blocker {root.description} holds up {total}: "
        f"end it with SELECT pg_terminate_backend({root.pid}); if it is safe to."
    )


def role(forest: BlockingForest, session: Session, roots: set[int], queued: set[int]) -> str:
    if session.in_cycle:
        return "cycle"
    if session.pid in queued:
        return "queued migration"
    return "root" if session.pid in roots else "waiting"


def _statement(session: Session) -> str | None:
    return session.query if session.gid is None else f"prepared transaction '{session.gid}'"


def tree_table(forest: BlockingForest, limit: int = TREE_ROWS) -> Table:
    roots = set(forest.roots)
    queued = {session.pid for session in forest.queued_migrations()}
    ordered = forest.tree_order()
    rows = []
    for s in ordered[:limit]:
        mode, on = (s.waiting_for_mode, s.waiting_for) if s.waiting else next(iter(s.holds), (None, None))
        rows.append(
            (
                s.pid,
                json_scalar(s.blocked_by),
                s.depth,
                role(forest, s, roots, queued),
                s.state,
                json_scalar(s.transaction_age_seconds),
                json_scalar(s.wait_seconds),
                mode,
                on.name if on else None,
                s.application_name,
                truncate(_statement(s), 200),
            )
        )
    return Table("blocking_tree", tuple(TREE_COLUMNS), tuple(rows), len(ordered) - len(rows))


def roots_table(forest: BlockingForest) -> Table:
    longest: dict[int, float] = {}
    for session in forest.sessions.values():
        if session.root is not None and session.root != session.pid:
            longest[session.root] = max(longest.get(session.root, 0.0), session.wait_seconds or 0.0)
    records = []
    for pid in forest.roots:
        root = forest.sessions[pid]
        found = root.operation
        records.append(
            {
                "root_pid": pid,
                "blocks_directly": forest.blocked_directly(pid),
                "blocks_in_total": forest.blocked_in_total(pid),
                "longest_wait_s": longest.get(pid, 0.0),
                "state": root.state,
                "transaction_age_s": root.transaction_age_seconds,
                "holds": root.held() or None,
                "operation": found.name if found else None,
                "migration": root.migration,
                "query": truncate(_statement(root), 200),
            }
        )
    return Table.from_records("root_blockers", records, ROOT_COLUMNS)
