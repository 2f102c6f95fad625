"""A marker's bytes as the summary `list` shows, or the reason it cannot be one."""

from incident_lab.archive.remote import summary_of


def test_a_marker_holding_a_summary_is_that_summary():
    summary = summary_of("2026-12-02-checkout", "run-003", b'{"outcome": "completed"}')
    assert (summary.incident_folder, summary.run, summary.data) == (
        "2026-12-02-checkout",
        "run-003",
        {"outcome": "completed"},
    )
    assert summary.damaged is None


def test_a_marker_that_is_not_a_summary_is_damaged_with_the_reason():
    assert summary_of("i", "run-001", b"\xff{").damaged == "its summary cannot be read: UnicodeDecodeError"
    assert summary_of("i", "run-001", b"{").damaged == "its summary cannot be read: JSONDecodeError"
    assert summary_of("i", "run-001", b"[1]").damaged == "its summary does not hold an object"
    assert summary_of("i", "run-001", PermissionError()).damaged == (
        "its summary cannot be read: PermissionError"
    )
