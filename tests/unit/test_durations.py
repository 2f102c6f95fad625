"""Durations as people type them."""

import pytest

from incident_lab.durations import parse_duration
from incident_lab.exceptions import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("2m", 120), ("500ms", 0.5), ("1h", 3600), ("45", 45)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0s", "-5s", "soon", "5 minutes", ""])
def test_anything_else_is_a_usage_error_with_examples(text):
    with pytest.raises(UsageError, match="examples: 30s"):
        parse_duration(text)
