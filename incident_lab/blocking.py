"""The blocking forest: who waits for whom, built in Python from one snapshot.

The server gives each waiting session its blockers (`pg_blocking_pids`); this module
finds the roots (sessions that block others and wait on nobody), each session's
depth below its root, how many sessions each root holds up, and the two shapes a
schema migration takes in an outage. Cycles (a deadlock not yet detected) are
handled: their smallest pid stands in as the root.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from incident_lab.describe import seconds, truncate
from incident_lab.result import Table

DDL = re.compile(
    r"^\s*(ALTER\s+(TABLE|INDEX|SEQUENCE|VIEW|MATERIALIZED\s+VIEW|TYPE)|DROP\s|TRUNCATE|REINDEX|"
    r"CLUSTER|VACUUM\s+(\(\s*)?FULL|REFRESH\s+MATERIALIZED\s+VIEW(?!\s+CONCURRENTLY)|"
    r"CREATE\s+(UNIQUE\s+)?INDEX(?!\s+CONCURRENTLY)|LOCK\s+(TABLE\s+)?)",
    re.IGNORECASE,
)
ACCESS_EXCLUSIVE = "AccessExclusiveLock"
PREPARED_TRANSACTION = 0

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
        return [
            session
            for session in self.waiters
            if session.waiting_for_mode == ACCESS_EXCLUSIVE
            and is_ddl(session.query)
            and self.blocked_directly(session.pid) > 0
        ]

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
    """Rows carry `pid`, `blocked_by` (list of pids, empty for blockers) and session details."""
    sessions: dict[int, Session] = {}
    for row in rows:
        pid = int(row["pid"])
        blockers = tuple(dict.fromkeys(b for b in (row.get("blocked_by") or ()) if b != pid))
        known = {name: row.get(name) for name in Session.__dataclass_fields__ if name in row}
        sessions[pid] = Session(**{**known, "pid": pid, "blocked_by": blockers})
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


def role(forest: BlockingForest, session: Session) -> str:
    if session.in_cycle:
        return "cycle"
    if session in forest.queued_migrations():
        return "queued migration"
    return "root" if session.pid in forest.roots else "waiting"


def tree_table(forest: BlockingForest) -> Table:
    records = [
        {
            "pid": s.pid,
            "blocked_by": list(s.blocked_by),
            "depth": s.depth,
            "role": role(forest, s),
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
    records = []
    for pid in forest.roots:
        root = forest.sessions[pid]
        below = [forest.sessions[p] for p in forest.sessions if forest.sessions[p].root == pid and p != pid]
        records.append(
            {
                "root_pid": pid,
                "blocks_directly": forest.blocked_directly(pid),
                "blocks_in_total": forest.blocked_in_total(pid),
                "longest_wait_s": max((s.wait_seconds or 0.0 for s in below), default=0.0),
                "state": root.state,
                "transaction_age_s": root.transaction_age_seconds,
                "holds_access_exclusive_on": root.holds_access_exclusive_on,
                "migration": is_ddl(root.query),
                "query": truncate(root.query, 200),
            }
        )
    return Table.from_records("root_blockers", records, ROOT_COLUMNS)
