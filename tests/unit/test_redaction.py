"""Secrets are masked wherever they appear: registered ones, and credential shapes."""

import pytest

from incident_lab import redaction
from incident_lab.redaction import MASK, register_secret, scrub, scrub_value


@pytest.fixture(autouse=True)
def secrets_of_this_test_only(monkeypatch):
    """Secrets registered here are forgotten after each test: they are process-wide."""
    monkeypatch.setattr(redaction, "_known_secrets", set(redaction._known_secrets))


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://app:Hunter2Pass@db:5432/shop", "Hunter2Pass"),
        ("host=db password=Hunter2Pass dbname=shop", "Hunter2Pass"),
        ("host=db password='Hunter 2 Pass' dbname=shop", "Hunter 2 Pass"),
        ("ALTER ROLE app PASSWORD 'Hunter2Pass'", "Hunter2Pass"),
        ('{"Authorization": "Bearer abc.def.ghi"}', "abc.def.ghi"),
        ("authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("x-api-key: k-123456789", "k-123456789"),
        ("https://h/p?user=a&password=Hunter2Pass", "Hunter2Pass"),
        ("key sk-proj-abcdefghijklmnop in a log line", "sk-proj-abcdefghijklmnop"),
    ],
)
def test_credential_shapes_are_masked_without_knowing_the_secret(text, secret):
    masked = scrub(text)
    assert secret not in masked and MASK in masked


def test_a_registered_secret_is_masked_anywhere_even_without_a_shape():
    register_secret("Zq7-registered-only")
    assert scrub("the value Zq7-registered-only leaked") == f"the value {MASK} leaked"


def test_short_strings_are_never_registered_since_they_would_mask_ordinary_words():
    register_secret("ab")
    assert scrub("abc ab") == "abc ab"


def test_scrub_value_walks_json_like_data():
    register_secret("Zq7-nested-secret")
    data = {"a": ["x Zq7-nested-secret", {"b": "Zq7-nested-secret"}], "n": 3, "none": None}
    assert scrub_value(data) == {"a": [f"x {MASK}", {"b": MASK}], "n": 3, "none": None}


def test_text_without_any_credential_shape_comes_back_unchanged():
    text = "SELECT count(*) FROM orders WHERE customer_id = 42"
    assert scrub(text) is text or scrub(text) == text


def test_a_password_that_is_also_a_word_never_masks_an_identifier():
    from incident_lab import Result, Verdict

    register_secret("postgres")  # a common default password
    result = Result("postgres.lock_contention", "h", Verdict.TRUE, "the postgres role", "", "", "", 1.0, {})
    written = result.to_dict()
    assert written["probe"] == "postgres.lock_contention" and written["kind"] == ""
    assert written["summary"] == f"the {MASK} role"
    assert Result.from_dict(written).probe == "postgres.lock_contention"
