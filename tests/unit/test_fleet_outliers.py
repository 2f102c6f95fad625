"""Which targets of a fleet differ from the others, and how that is said."""

from incident_lab import Result, Verdict
from incident_lab.investigation.fleet import fleet_rows, odd_ones
from incident_lab.investigation.params import Hypothesis

T, F, UNKNOWN = Verdict.TRUE, Verdict.FALSE, Verdict.INCONCLUSIVE


def result(verdict: Verdict, target: str) -> Result:
    return Result("postgres.lock_contention", "Lock contention", verdict, "", "", target, "", 1.0, {})


def test_one_sick_shard_of_twenty_is_the_odd_one_out():
    verdicts = {f"shard{n}": F for n in range(1, 21)} | {"shard7": T}
    assert odd_ones(verdicts) == (F, ("shard7",))


def test_a_fleet_split_down_the_middle_names_no_odd_one():
    assert odd_ones({"a": T, "b": T, "c": F, "d": F}) == (None, ())
    assert odd_ones({"a": T, "b": T, "c": T, "d": F, "e": F}) == (T, ())  # two of five: split, not odd
    assert odd_ones({"a": T}) == (None, ())


def test_rows_group_one_hypothesis_over_its_targets_and_say_who_differs():
    hypotheses = [
        Hypothesis("Lock contention", "postgres.lock_contention", {}, f"shard{n}") for n in range(1, 6)
    ]
    hypotheses.append(Hypothesis("Deadlocks", "postgres.deadlocks", {}, "shard1"))
    latest = [result(F, "s1"), result(F, "s2"), result(T, "s3"), result(F, "s4"), None, None]
    (row,) = fleet_rows(hypotheses, latest)
    assert row.title == "Lock contention" and list(row.cells) == [f"shard{n}" for n in range(1, 6)]
    assert row.outliers == ("shard3",) and row.indices["shard3"] == 2
    assert row.sentence() == "shard3 is the only one where “Lock contention” is True (the other 3 are False)"


def test_several_odd_ones_are_named_together():
    hypotheses = [Hypothesis("Lag", "postgres.replication_lag", {}, f"r{n}") for n in range(1, 8)]
    latest = [result(UNKNOWN, "x"), result(UNKNOWN, "x")] + [result(F, "x")] * 5
    (row,) = fleet_rows(hypotheses, latest)
    assert row.sentence() == "r1, r2 differ from the other 5: “Lag” is Inconclusive there, False elsewhere"
