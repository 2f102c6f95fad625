"""Where active sessions spend their time, from samples of pg_stat_activity's wait events.

Each sample counts the sessions running a statement by wait event and statement
(`wait_events.sql`); a session with no wait event is on CPU. Summed over the samples,
each event's count is its share of active time, as `pg_wait_sampling` measures it inside
the server. A wait class (the event's type: IO, LWLock, BufferPin, Client, IPC, Lock…)
dominates when it takes most of that time; CPU is work, not waiting, and heavyweight
lock waits (`Lock`) are the lock probe's to explain.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from incident_lab.result import Table

NOT_STUCK = ("CPU", "Lock")
EVENT_COLUMNS = ["wait_event_type", "wait_event", "share", "average_sessions", "top_query"]


@dataclass
class WaitSamples:
    """Session counts per wait event over a number of samples."""

    samples: int = 0
    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    queries: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """One sample: rows of `wait_event_type`, `wait_event`, `query`, `sessions`."""
        self.samples += 1
        for row in rows:
            self.events[row["wait_event_type"], row["wait_event"]] += row["sessions"]
            self.queries[row["wait_event_type"], row["wait_event"], row["query"]] += row["sessions"]

    @property
    def active(self) -> int:
        """Session-samples spent running a statement."""
        return sum(self.events.values())

    def classes(self) -> list[tuple[str, float]]:
        """Each wait class with its share of active time, the largest first."""
        totals: Counter[str] = Counter()
        for (kind, _), count in self.events.items():
            totals[kind] += count
        return [(kind, count / self.active) for kind, count in totals.most_common()]

    def stuck(self) -> tuple[str, float]:
        """The largest wait class that is neither CPU nor a heavyweight lock, and its share."""
        return next(((k, share) for k, share in self.classes() if k not in NOT_STUCK), ("none", 0.0))

    def top_query(self, kind: str, event: str) -> str:
        """The statement seen most often waiting on this event."""
        return max((q for q in self.queries if q[:2] == (kind, event)), key=self.queries.__getitem__)[2]

    def events_table(self, limit: int = 20) -> Table:
        records = [
            {
                "wait_event_type": kind,
                "wait_event": event,
                "share": round(count / self.active, 4),
                "average_sessions": round(count / max(1, self.samples), 2),
                "top_query": self.top_query(kind, event),
            }
            for (kind, event), count in self.events.most_common(limit)
        ]
        return Table.from_records("wait_events", records, EVENT_COLUMNS)

    def describe(self, kind: str) -> str:
        """`BufferPin waits take 100% of active time (mostly BufferPin, 1 session on average, e.g. …)`."""
        share = dict(self.classes()).get(kind, 0.0)
        (top_kind, event), count = next(item for item in self.events.most_common() if item[0][0] == kind)
        query = self.top_query(top_kind, event)
        average = count / max(1, self.samples)
        sessions = f"{average:g} session" + ("" if average == 1 else "s")
        return (
            f"{kind} waits take {share:.0%} of active time (mostly {event}, {sessions} on average, "
            f"e.g. {query!r})"
        )

    def mix(self) -> str:
        """`active time by class: BufferPin 80%, CPU 20%`."""
        return "active time by class: " + ", ".join(f"{k} {share:.0%}" for k, share in self.classes()[:4])
