"""Shares of active time from wait-event samples, worked out without a server: the rows
are what wait_events.sql returns for each sample."""

from incident_lab.kinds.postgres.waits import WaitSamples


def sample(*rows):
    return [
        {"wait_event_type": kind, "wait_event": event, "query": query, "sessions": sessions}
        for kind, event, query, sessions in rows
    ]


def test_the_largest_class_other_than_cpu_and_locks_and_its_share():
    waits = WaitSamples()
    for _ in range(3):
        waits.add(sample(("IO", "DataFileRead", "SELECT * FROM big", 3), ("CPU", "CPU", "SELECT 1", 1)))
    waits.add(sample(("Lock", "relation", "ALTER TABLE big ADD x int", 4)))
    assert waits.active == 16 and waits.samples == 4
    assert waits.classes() == [("IO", 0.5625), ("Lock", 0.25), ("CPU", 0.1875)]
    assert waits.stuck() == ("IO", 0.5625)
    assert waits.describe("IO") == (
        "IO waits take 56% of active time (mostly DataFileRead, 2.25 sessions on average, "
        "e.g. 'SELECT * FROM big')"
    )
    assert waits.mix() == "active time by class: IO 56%, Lock 25%, CPU 19%"
    first = waits.events_table().records()[0]
    assert first == {
        "wait_event_type": "IO",
        "wait_event": "DataFileRead",
        "share": 0.5625,
        "average_sessions": 2.25,
        "top_query": "SELECT * FROM big",
    }


def test_cpu_and_heavyweight_locks_are_never_the_stuck_class():
    waits = WaitSamples()
    waits.add(sample(("CPU", "CPU", "SELECT 1", 5), ("Lock", "relation", "SELECT 2", 5)))
    assert waits.stuck() == ("none", 0.0)


def test_the_top_query_of_an_event_is_the_one_seen_most():
    waits = WaitSamples()
    waits.add(sample(("LWLock", "WALWrite", "INSERT a", 1), ("LWLock", "WALWrite", "INSERT b", 2)))
    waits.add(sample(("LWLock", "WALWrite", "INSERT a", 2)))
    assert waits.top_query("LWLock", "WALWrite") == "INSERT a"
