"""The blocking forest: who waits for whom, built in Python from one snapshot.

`lock_tree.sql` returns every lock someone waits for, with its holders and requests,
and the sessions involved. This module works out each waiting session's blockers as
`pg_blocking_pids` would, from PostgreSQL's lock conflict table and the answers the
server gave for the strong requests; then it finds the roots (sessions that block
others and wait on nobody), each session's depth below its root, how many sessions
each root holds up, and the two shapes a schema migration takes in an outage. Cycles
(a deadlock not yet detected) are handled: their smallest pid stands in as the root.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from incident_lab.result import Table
from incident_lab.wording import seconds, truncate

DDL = re.compile(
    r"^\s*(ALTER\s+(TABLE|INDEX|SEQUENCE|VIEW|MATERIALIZED\s+VIEW|TYPE)|DROP\s|TRUNCATE|REINDEX|"
    r"CLUSTER|VACUUM\s+(\(\s*)?FULL|REFRESH\s+MATERIALIZED\s+VIEW(?!\s+CONCURRENTLY)|"
    r"CREATE\s+(UNIQUE\s+)?INDEX(?!\s+CONCURRENTLY)|LOCK\s+(TABLE\s+)?)",
    re.IGNORECASE,
)
ACCESS_EXCLUSIVE = "AccessExclusiveLock"
PREPARED_TRANSACTION = 0

# Each lock mode as a bit, and the modes it conflicts with (LockConflicts in lock.c).
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
CONFLICTS = {1: 128, 2: 192, 4: 240, 8: 248, 16: 236, 32: 252, 64: 254, 128: 255}

TREE_COLUMNS = [
    "pid",
    "blocked_by",
    "depth",
    "role",
    "state",
    "transaction_age_s",
    "wait_age_s",
    "lock_mode",
    "relation",
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
    "holds_access_exclusive_on",
    "migration",
    "query",
]


def is_ddl(query: str | None) -> bool:
    return bool(query and DDL.match(query))


@dataclass
class Session:
    """One session in the snapshot, waiting, blocking, or both."""

    pid: int
    blocked_by: tuple[int, ...]
    state: str | None = None
    application_name: str | None = None
    transaction_age_seconds: float | None = None
    wait_seconds: float | None = None
    waiting_for_mode: str | None = None
    waiting_for_relation: str | None = None
    holds_access_exclusive_on: str | None = None
    query: str | None = None
    depth: int = 0
    root: int | None = None
    in_cycle: bool = False

    @property
    def waiting(self) -> bool:
        return bool(self.blocked_by)

    @property
    def description(self) -> str:
        if self.pid == PREPARED_TRANSACTION:
            return "a prepared transaction"
        return f"pid {self.pid} ({self.state or 'state unknown'})"


@dataclass
class BlockingForest:
    sessions: dict[int, Session]
    children: dict[int, list[int]] = field(default_factory=dict)
    roots: list[int] = field(default_factory=list)
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
                and is_ddl(session.query)
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
      the lock, with `mode`, `relation`, `wait_seconds`, and for a request the server
      answered, `blocked_by` (what `pg_blocking_pids` returned);
    - `held`: an ACCESS EXCLUSIVE lock on `relation` that a session involved holds;
    - `session`: a session's `state`, `query`, `transaction_age_seconds`,
      `application_name`, `leader_pid` (for a parallel worker) and `in_scope` (whether
      its waits are reported).
    """
    sessions = _sessions(rows)
    for session in list(sessions.values()):
        for blocker in session.blocked_by:
            sessions.setdefault(blocker, Session(pid=blocker, blocked_by=()))
    forest = BlockingForest(sessions)
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


def _sessions(rows: Iterable[Mapping[str, Any]]) -> dict[int, Session]:
    """The waiting sessions in scope and their blockers, each with its details."""
    details: dict[int, Mapping[str, Any]] = {}
    locks: dict[str, tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]] = {}
    exclusive: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        pid = row["pid"]
        if row["kind"] == "session":
            details[pid] = row
        elif row["kind"] == "held":
            exclusive[pid].add(row["relation"])
        else:
            holders, requests = locks.setdefault(row["lock_key"], ([], []))
            (holders if row["granted"] else requests).append(row)
            if row["granted"] and row["mode"] == ACCESS_EXCLUSIVE and row["relation"]:
                exclusive[pid].add(row["relation"])

    def group(pid: int) -> int:
        """A parallel worker is named by its leader, as pg_blocking_pids names it."""
        about = details.get(pid)
        return (about and about["leader_pid"]) or pid

    blocked_by: dict[int, tuple[int, ...]] = {}
    wanted: dict[int, Mapping[str, Any]] = {}
    for holders, requests in locks.values():
        blockers = _weak_request_blockers(holders, requests, group)
        for request in requests:
            pid = request["pid"]
            wanted[pid] = request
            if details.get(pid, {}).get("in_scope"):
                answer = request["blocked_by"]
                found = blockers(request) if answer is None else answer
                blocked_by[pid] = tuple(dict.fromkeys(b for b in found if b != pid))

    sessions: dict[int, Session] = {}
    for pid in dict.fromkeys([*blocked_by, *(b for found in blocked_by.values() for b in found)]):
        about = details.get(pid, {})
        request = wanted.get(pid, {})
        wait = request.get("wait_seconds")
        if request and wait is None:  # before PostgreSQL 14, the session's last change of state
            wait = about.get("wait_seconds")
        sessions[pid] = Session(
            pid=pid,
            blocked_by=blocked_by.get(pid, ()),
            state=about.get("state"),
            application_name=about.get("application_name"),
            transaction_age_seconds=about.get("transaction_age_seconds"),
            wait_seconds=wait,
            waiting_for_mode=request.get("mode"),
            waiting_for_relation=request.get("relation"),
            holds_access_exclusive_on=", ".join(sorted(exclusive[pid])) or None,
            query=about.get("query"),
        )
    return sessions


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
    by_mode: dict[str, tuple[list[int], list[int]]] = {}

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
        pid = request["pid"]
        holding, strong = in_the_way(request["mode"])
        ahead = [group(other) for other in strong if pid not in answered[other]]
        return [group(holder) for holder in holding if holder != pid] + ahead

    return blockers


# Presentation: how the forest reads in a summary, a hint and the evidence tables.


def describe_root(forest: BlockingForest, root: Session) -> str:
    held = (
        f", holds ACCESS EXCLUSIVE on {root.holds_access_exclusive_on}"
        if root.holds_access_exclusive_on
        else ""
    )
    kind = "migration " if is_ddl(root.query) and root.holds_access_exclusive_on else ""
    return (
        f"{kind}{root.description}{held} blocks {forest.blocked_in_total(root.pid)} "
        f"sessions: {truncate(root.query, 80)}"
    )


def remedies(forest: BlockingForest) -> list[str]:
    hints = []
    for pid in forest.roots:
        root = forest.sessions[pid]
        if is_ddl(root.query) and root.holds_access_exclusive_on:
            hints.append(
                f"Migration pid {pid} holds ACCESS EXCLUSIVE on {root.holds_access_exclusive_on} "
                f"(transaction open {seconds(root.transaction_age_seconds)}): roll it back or "
                f"run SELECT pg_terminate_backend({pid});"
            )
        else:
            hints.append(
                f"Root blocker {root.description} holds up {forest.blocked_in_total(pid)} sessions: "
                f"end it with SELECT pg_terminate_backend({pid}); if it is safe to."
            )
    hints += [
        f"Cancel the queued migration (SELECT pg_cancel_backend({m.pid});) to release the readers "
        "behind it, then retry it with a short lock_timeout."
        for m in forest.queued_migrations()
    ]
    return hints


def role(forest: BlockingForest, session: Session, roots: set[int], queued: set[int]) -> str:
    if session.in_cycle:
        return "cycle"
    if session.pid in queued:
        return "queued migration"
    return "root" if session.pid in roots else "waiting"


def tree_table(forest: BlockingForest) -> Table:
    roots = set(forest.roots)
    queued = {session.pid for session in forest.queued_migrations()}
    records = [
        {
            "pid": s.pid,
            "blocked_by": list(s.blocked_by),
            "depth": s.depth,
            "role": role(forest, s, roots, queued),
            "state": s.state,
            "transaction_age_s": s.transaction_age_seconds,
            "wait_age_s": s.wait_seconds,
            "lock_mode": s.waiting_for_mode
            or ("AccessExclusiveLock" if s.holds_access_exclusive_on else None),
            "relation": s.waiting_for_relation or s.holds_access_exclusive_on,
            "application_name": s.application_name,
            "query": truncate(s.query, 200),
        }
        for s in forest.tree_order()
    ]
    return Table.from_records("blocking_tree", records, TREE_COLUMNS)


def roots_table(forest: BlockingForest) -> Table:
    longest: dict[int, float] = {}
    for session in forest.sessions.values():
        if session.root is not None and session.root != session.pid:
            longest[session.root] = max(longest.get(session.root, 0.0), session.wait_seconds or 0.0)
    records = []
    for pid in forest.roots:
        root = forest.sessions[pid]
        records.append(
            {
                "root_pid": pid,
                "blocks_directly": forest.blocked_directly(pid),
                "blocks_in_total": forest.blocked_in_total(pid),
                "longest_wait_s": longest.get(pid, 0.0),
                "state": root.state,
                "transaction_age_s": root.transaction_age_seconds,
                "holds_access_exclusive_on": root.holds_access_exclusive_on,
                "migration": is_ddl(root.query),
                "query": truncate(root.query, 200),
            }
        )
    return Table.from_records("root_blockers", records, ROOT_COLUMNS)
