"""How `list` finds a remote archive's runs: the index and the journal's latest hours, and
the whole of `.complete/` when the index cannot be trusted that far. On `file://`, which
fsspec drives as it drives `s3://`, in the time a unit test may take."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from incident_lab.archive.remote import (
    COMPLETE,
    FULL_LISTING_EVERY,
    INDEX,
    INDEX_VERSION,
    JOURNAL,
    JOURNAL_WINDOW,
    ListingIndex,
    journal_hour,
    journal_hours,
    open_archive,
)
from incident_lab.archive.store import write_json
from incident_lab.result import utc_now

FOLDER = "2026-12-02-checkout-failing"
NOW = dt.datetime(2026, 12, 2, 5, 10, tzinfo=dt.UTC)


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    return tmp_path / "bucket"


def save_run(bucket: Path, folder: str = FOLDER) -> str:
    """Save a run as `incident-lab run` does once its notebook has run; its name."""
    archive = open_archive(f"file://{bucket}")
    staged = archive.staging_dir()
    write_json(staged / "summary.json", {"incident": "Checkout failing", "outcome": "completed"})
    incident_dir = archive.incident_dir(folder)
    run = archive.claim_run(incident_dir)
    archive.commit(staged, incident_dir, run)
    return run


def listed(bucket: Path) -> dict[str, list[str]]:
    archive = open_archive(f"file://{bucket}")
    return {folder.name: [s.run for s in archive.runs(folder)] for folder in archive.incident_folders()}


def age_index(bucket: Path, by: dt.timedelta) -> None:
    """The index as it would be had it been written `by` earlier."""
    index = json.loads((bucket / INDEX).read_text())
    for key in ("listed_at", "full_at"):
        index[key] = (dt.datetime.fromisoformat(index[key]) - by).isoformat()
    (bucket / INDEX).write_text(json.dumps(index))


def add_marker_without_journal_entry(bucket: Path, run: str) -> None:
    """A run as a writer of an earlier version, which keeps no journal, completes it."""
    marker = bucket / COMPLETE / FOLDER / f"{run}.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"incident": "Checkout failing", "outcome": "completed"}))


def test_runs_saved_since_the_last_listing_come_from_the_journal(bucket):
    assert save_run(bucket) == "run-001"
    assert listed(bucket) == {FOLDER: ["run-001"]}
    assert save_run(bucket) == "run-002"
    assert save_run(bucket, "2026-12-02-api-slow") == "run-001"
    assert listed(bucket) == {FOLDER: ["run-001", "run-002"], "2026-12-02-api-slow": ["run-001"]}
    (entry,) = (bucket / JOURNAL).iterdir()
    assert entry.name == journal_hour(utc_now()) and (entry / FOLDER / "run-002").is_file()


def test_a_run_the_journal_missed_is_listed_by_the_next_full_listing(bucket):
    save_run(bucket)
    listed(bucket)
    add_marker_without_journal_entry(bucket, "run-002")
    # While the index is fresh, only the journal is read: that is what keeps `list` short.
    assert listed(bucket) == {FOLDER: ["run-001"]}
    age_index(bucket, FULL_LISTING_EVERY)
    assert listed(bucket) == {FOLDER: ["run-001", "run-002"]}


def test_without_a_usable_index_everything_complete_is_listed(bucket):
    save_run(bucket)
    listed(bucket)
    add_marker_without_journal_entry(bucket, "run-002")
    (bucket / INDEX).unlink()
    assert listed(bucket) == {FOLDER: ["run-001", "run-002"]}
    add_marker_without_journal_entry(bucket, "run-003")
    age_index(bucket, -2 * JOURNAL_WINDOW)  # written by a clock ahead of this one
    assert listed(bucket) == {FOLDER: ["run-001", "run-002", "run-003"]}
    add_marker_without_journal_entry(bucket, "run-004")
    (bucket / INDEX).write_text("{")
    assert listed(bucket) == {FOLDER: ["run-001", "run-002", "run-003", "run-004"]}


def test_a_journal_entry_without_its_marker_is_a_run_not_yet_complete(bucket):
    save_run(bucket)
    listed(bucket)
    entry = bucket / JOURNAL / journal_hour(utc_now()) / FOLDER / "run-002"
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_bytes(b"")
    assert listed(bucket) == {FOLDER: ["run-001"]}
    add_marker_without_journal_entry(bucket, "run-002")
    assert listed(bucket) == {FOLDER: ["run-001", "run-002"]}


def test_a_run_deleted_by_hand_leaves_the_listing_at_the_next_full_listing(bucket):
    save_run(bucket)
    save_run(bucket)
    listed(bucket)
    (bucket / COMPLETE / FOLDER / "run-001.json").unlink()
    age_index(bucket, FULL_LISTING_EVERY)
    assert listed(bucket) == {FOLDER: ["run-002"]}


def test_the_journal_read_spans_the_hours_from_the_last_listing_less_the_window():
    index = ListingIndex({}, listed_at=NOW - dt.timedelta(minutes=20), full_at=NOW - dt.timedelta(minutes=50))
    assert index.journal_since(NOW) == NOW - dt.timedelta(minutes=20) - JOURNAL_WINDOW
    assert journal_hours(NOW - dt.timedelta(minutes=35), NOW + JOURNAL_WINDOW) == [
        "2026-12-02T04",
        "2026-12-02T05",
    ]
    assert journal_hours(NOW, NOW) == ["2026-12-02T05"]
    assert journal_hour(dt.datetime(2026, 12, 2, 7, 59, tzinfo=dt.timezone(dt.timedelta(hours=3)))) == (
        "2026-12-02T04"
    )


@pytest.mark.parametrize(
    "index",
    [
        ListingIndex(),
        ListingIndex({}, NOW, NOW - FULL_LISTING_EVERY),
        ListingIndex({}, NOW + 2 * JOURNAL_WINDOW, NOW),
    ],
    ids=["never listed", "listed whole too long ago", "from a clock ahead"],
)
def test_an_index_that_cannot_be_trusted_that_far_asks_for_a_full_listing(index):
    assert index.journal_since(NOW) is None


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"version": INDEX_VERSION - 1, "runs": {}},
        {"version": INDEX_VERSION, "runs": {}, "listed_at": "yesterday", "full_at": NOW.isoformat()},
        {
            "version": INDEX_VERSION,
            "runs": {},
            "listed_at": "2026-12-02T05:00",
            "full_at": "2026-12-02T05:00",
        },
        {"version": INDEX_VERSION, "runs": [], "listed_at": NOW.isoformat(), "full_at": NOW.isoformat()},
    ],
    ids=["not an object", "an earlier version", "not a time", "no time zone", "runs not an object"],
)
def test_an_index_not_understood_is_as_good_as_none(document):
    assert ListingIndex.parse(document) == ListingIndex()
